from django.urls import path

from apps.webhooks.api import views

urlpatterns = [
    path("webhooks/endpoints/", views.EndpointListView.as_view(), name="webhook-endpoints"),
    path("webhooks/endpoints/<int:pk>/", views.EndpointDetailView.as_view(), name="webhook-endpoint"),
    path("webhooks/endpoints/<int:pk>/rotate-secret/", views.EndpointRotateSecretView.as_view(), name="webhook-endpoint-rotate-secret"),
    path("webhooks/endpoints/<int:pk>/deliveries/", views.EndpointDeliveriesView.as_view(), name="webhook-endpoint-deliveries"),
    path(
        "webhooks/endpoints/<int:pk>/deliveries/<int:delivery_pk>/replay/",
        views.DeliveryReplayView.as_view(),
        name="webhook-delivery-replay",
    ),
]
