"""Public URLs of messages' tracked links and open pixels, kept short for SMS (mounted at ``/t/``)."""

from django.urls import path
from django.views.decorators.http import require_GET

from apps.messaging.api import views

urlpatterns = [
    path("<str:token>/", require_GET(views.tracked_link), name="message-link"),
    path("<str:token>/o.gif", require_GET(views.open_pixel), name="message-open"),
]
