from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.idempotency import idempotent
from apps.core.api.views import IDEMPOTENCY_HEADER, TrustedView
from apps.core.models import ApiScope
from apps.sales import services
from apps.sales.api import serializers as s


class LeadBatchView(TrustedView):
    required_scopes = {"POST": (ApiScope.LEADS_WRITE,)}

    @extend_schema(
        request=s.LeadBatchSerializer,
        responses={200: s.LeadBatchResultSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        tags=["leads"],
        description="Up to 500 leads; each is checked on its own (bad ones are listed with index, field and reason, good ones "
        "stored). A lead whose (source_system, source_ref) this key already sent is a duplicate and changes nothing (another "
        "key's leads are never compared). A lead is "
        "matched to a member by external ID, then by phone; an unknown person becomes a prospect. Each stored lead is "
        "answered with an opaque `lead_ref`; the matched `member_id` and the `outcome` only to a key with `members:read`, "
        "so sending leads never tells whether a phone number belongs to a member.",
    )
    @idempotent
    def post(self, request: Request) -> Response:
        leads = request.data.get("leads") if isinstance(request.data, dict) else None
        result = services.leads_receive_batch(
            items=leads,
            client=request.auth,
            reveal_match=request.auth.has_scope(ApiScope.MEMBERS_READ),
        )
        return Response(result.as_dict())
