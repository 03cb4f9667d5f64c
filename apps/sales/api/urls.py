from django.urls import path

from apps.sales.api import views

urlpatterns = [path("leads/", views.LeadBatchView.as_view(), name="leads")]
