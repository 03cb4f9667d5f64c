from django.urls import path

from apps.benefits.api import views

urlpatterns = [
    path("me/benefits/", views.MyGrantsView.as_view(), name="me-benefits"),
    path("mall/", views.MallView.as_view(), name="mall"),
    path("mall/<int:benefit_id>/exchange/", views.MallExchangeView.as_view(), name="mall-exchange"),
    path("grants/", views.GrantCreateView.as_view(), name="grant-create"),
    path("grants/lookup/", views.GrantLookupView.as_view(), name="grant-lookup"),
    path("grants/redeem/", views.GrantRedeemView.as_view(), name="grant-redeem"),
]
