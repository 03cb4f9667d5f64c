from django.urls import path

from apps.events.api import views

urlpatterns = [
    path("events/", views.EventListView.as_view(), name="events"),
    path("events/<int:pk>/", views.EventDetailView.as_view(), name="event-detail"),
    path("events/<int:pk>/register/", views.RegisterView.as_view(), name="event-register"),
    path("events/check-in/", views.CheckInView.as_view(), name="event-check-in"),
    path("me/registrations/", views.MyRegistrationsView.as_view(), name="me-registrations"),
    path("me/registrations/<int:pk>/", views.MyRegistrationDetailView.as_view(), name="me-registration"),
    path("me/registrations/<int:pk>/cancel/", views.CancelRegistrationView.as_view(), name="me-registration-cancel"),
    path("clubs/", views.ClubListView.as_view(), name="clubs"),
    path("clubs/<int:pk>/", views.ClubDetailView.as_view(), name="club-detail"),
    path("me/clubs/", views.MyClubsView.as_view(), name="me-clubs"),
    path("me/clubs/<int:pk>/join/", views.ClubJoinView.as_view(), name="me-club-join"),
    path("me/clubs/<int:pk>/leave/", views.ClubLeaveView.as_view(), name="me-club-leave"),
    path("me/clubs/<int:pk>/requests/", views.OrganiserRequestsView.as_view(), name="me-club-requests"),
    path("me/club-requests/<int:pk>/approve/", views.OrganiserApproveView.as_view(), name="me-club-request-approve"),
    path("me/club-requests/<int:pk>/decline/", views.OrganiserDeclineView.as_view(), name="me-club-request-decline"),
]
