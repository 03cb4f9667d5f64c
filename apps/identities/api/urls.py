from django.urls import path

from apps.identities.api import views

urlpatterns = [
    path("members/<int:pk>/identities/", views.MemberIdentitiesView.as_view(), name="member-identities"),
    path("members/<int:pk>/identities/remove/", views.MemberIdentityRemoveView.as_view(), name="member-identity-remove"),
    path("members/<int:pk>/subscriptions/", views.MemberSubscriptionsView.as_view(), name="member-subscriptions"),
]
