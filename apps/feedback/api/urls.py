from django.urls import path

from apps.feedback.api import views

urlpatterns = [
    path("feedback-categories/", views.CategoryListView.as_view(), name="feedback-categories"),
    path("me/feedback/", views.MyFeedbackView.as_view(), name="me-feedback"),
    path("me/feedback/<int:pk>/", views.MyFeedbackDetailView.as_view(), name="me-feedback-detail"),
    path("me/feedback/<int:pk>/reply/", views.MyFeedbackReplyView.as_view(), name="me-feedback-reply"),
    path("me/feedback/<int:pk>/rate/", views.MyFeedbackRateView.as_view(), name="me-feedback-rate"),
    path("me/surveys/<str:token>/", views.MySurveyView.as_view(), name="me-survey"),
]
