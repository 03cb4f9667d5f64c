from django.urls import path

from apps.analytics.api import views

urlpatterns = [
    path("activity/batch/", views.ActivityBatchView.as_view(), name="activity-batch"),
    path("metrics/", views.MetricListView.as_view(), name="metrics"),
    path("metrics/<slug:name>/", views.MetricView.as_view(), name="metric"),
]
