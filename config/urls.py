from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from apps.core.views import set_user_language

api_v1 = [
    path("", include("apps.members.api.urls")),
    path("", include("apps.messaging.api.urls")),
    path("", include("apps.identities.api.urls")),
    path("", include("apps.campaigns.api.urls")),
    path("", include("apps.benefits.api.urls")),
    path("", include("apps.events.api.urls")),
    path("", include("apps.analytics.api.urls")),
    path("", include("apps.engagement.api.urls")),
    path("", include("apps.webhooks.api.urls")),
    path("", include("apps.sales.api.urls")),
    path("", include("apps.lifecycle.api.urls")),
    path("", include("apps.feedback.api.urls")),
    path("", include("apps.rules.api.urls")),
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-v1:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-v1:schema"), name="redoc"),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("i18n/setlang/", set_user_language, name="set_language"),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api-v1"))),
    path("health/", include("apps.core.urls")),
    path("t/", include("apps.messaging.api.tracking_urls")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
