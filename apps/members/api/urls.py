from django.urls import path

from apps.members.api import views

urlpatterns = [
    path("me/", views.MyProfileView.as_view(), name="me"),
    path("me/summary/", views.MySummaryView.as_view(), name="me-summary"),
    path("me/timeline/", views.MyTimelineView.as_view(), name="me-timeline"),
    path("me/tier/", views.MyTierView.as_view(), name="me-tier"),
    path("me/points/", views.MyPointsView.as_view(), name="me-points"),
    path("me/points/ledger/", views.MyLedgerView.as_view(), name="me-ledger"),
    path("me/consents/", views.MyConsentsView.as_view(), name="me-consents"),
    path("me/consents/withdraw/", views.MyConsentsWithdrawView.as_view(), name="me-consents-withdraw"),
    path("me/data-export/", views.MyDataExportView.as_view(), name="me-data-export"),
    path("me/token/revoke/", views.MyTokenRevokeView.as_view(), name="me-token-revoke"),
    path("members/", views.MemberListView.as_view(), name="members"),
    path("members/<int:pk>/", views.MemberDetailView.as_view(), name="member-detail"),
    path("members/<int:pk>/points/", views.MemberPointsView.as_view(), name="member-points"),
    path("members/<int:pk>/points/ledger/", views.MemberLedgerView.as_view(), name="member-ledger"),
    path("members/<int:pk>/points/earn/", views.PointsEarnView.as_view(), name="points-earn"),
    path("members/<int:pk>/points/spend/", views.PointsSpendView.as_view(), name="points-spend"),
    path("members/<int:pk>/data-export/", views.MemberDataExportView.as_view(), name="member-data-export"),
    path("members/<int:pk>/anonymise/", views.MemberAnonymiseView.as_view(), name="member-anonymise"),
    path("points/entries/<int:entry_id>/reverse/", views.PointsReverseView.as_view(), name="points-reverse"),
    path("member-tokens/", views.MemberTokenIssueView.as_view(), name="member-token-issue"),
    path("member-tokens/revoke/", views.MemberTokenRevokeView.as_view(), name="member-token-revoke"),
]
