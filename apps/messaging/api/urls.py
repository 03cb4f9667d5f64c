from django.urls import path

from apps.messaging.api import views

urlpatterns = [
    path("messaging/receipts/<slug:provider>/<str:token>/", views.DeliveryReceiptView.as_view(), name="message-receipts"),
    path("unsubscribe/<str:token>/", views.UnsubscribeView.as_view(), name="unsubscribe"),
]
