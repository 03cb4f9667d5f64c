from django.urls import path

from apps.lifecycle.api import views

urlpatterns = [
    path("journey-metrics/", views.JourneyMetricListView.as_view(), name="journey-metrics"),
    path("journey-metrics/<slug:name>/", views.JourneyMetricView.as_view(), name="journey-metric"),
]
