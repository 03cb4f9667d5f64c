from django.urls import path

from apps.campaigns.api import views

urlpatterns = [
    path("me/referral-code/", views.MyReferralCodeView.as_view(), name="me-referral-code"),
    path("referrals/", views.ReferralAttachView.as_view(), name="referral-attach"),
    path("referrals/qualify/", views.ReferralQualifyView.as_view(), name="referral-qualify"),
]
