from django.urls import path

from apps.messaging.api import views

urlpatterns = [
    path("unsubscribe/<str:token>/", views.UnsubscribeView.as_view(), name="unsubscribe"),
]
