from django.urls import path

from apps.engagement.api import views

urlpatterns = [
    path("me/tasks/", views.MyTasksView.as_view(), name="me-tasks"),
    path("me/badges/", views.MyBadgesView.as_view(), name="me-badges"),
    path("me/sign-in/", views.SignInView.as_view(), name="me-sign-in"),
    path("me/sign-in/calendar/", views.SignInCalendarView.as_view(), name="me-sign-in-calendar"),
]
