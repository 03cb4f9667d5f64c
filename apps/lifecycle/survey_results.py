"""Survey results by journey stage: feedback splits answers by the respondent's current stage, read from here."""

from django.db.models import OuterRef, Subquery
from django.utils.translation import gettext_lazy as _

from apps.feedback.selectors import register_response_breakdown
from apps.lifecycle.models import JourneyStage, MemberStage


def register() -> None:
    register_response_breakdown(
        name="journey_stage",
        label=_("Journey stage"),
        group=lambda: Subquery(MemberStage.objects.filter(member_id=OuterRef("member_id")).values("journey_stage")[:1]),
        labels=lambda: dict(JourneyStage.choices),
    )
