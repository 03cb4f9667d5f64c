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
]
