from django.urls import path

from apps.rules.api import views

urlpatterns = [
    path("rules/", views.RuleListView.as_view(), name="rules"),
    path("rules/explain/", views.EarningExplainView.as_view(), name="rules-explain"),
    path("rules/<int:pk>/", views.RuleDetailView.as_view(), name="rule"),
    path("rules/<int:pk>/activate/", views.RuleActivateView.as_view(), name="rule-activate"),
    path("rules/<int:pk>/pause/", views.RulePauseView.as_view(), name="rule-pause"),
    path("rules/<int:pk>/simulation/", views.RuleSimulationView.as_view(), name="rule-simulation"),
]
