"""Base views and OpenAPI parameters every app's API shares."""

from drf_spectacular.utils import OpenApiParameter
from rest_framework.views import APIView

from apps.core.api.idempotency import HEADER
from apps.core.api.permissions import IsTrustedClient

IDEMPOTENCY_HEADER = OpenApiParameter(
    HEADER, str, OpenApiParameter.HEADER, required=True, description="A unique key per logical operation; retries reuse it."
)


class TrustedView(APIView):
    """A view for trusted systems: an API client holding the scopes ``required_scopes`` names for the method."""

    permission_classes = [IsTrustedClient]
    required_scopes: dict[str, tuple[str, ...]] = {}
