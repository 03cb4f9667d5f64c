"""OpenAPI description of the member-token scheme (a drf-spectacular extension, registered by the app's ready())."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class MemberTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.members.api.authentication.MemberTokenAuthentication"
    name = "MemberToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "http", "scheme": "bearer", "description": "Short-lived member token from POST /api/v1/member-tokens/."}
