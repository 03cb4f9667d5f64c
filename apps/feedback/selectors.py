"""Reads of feedback and surveys shared by the back office, the member API and the other apps' panels."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, Exists, Expression, F, Func, JSONField, OuterRef, Q, QuerySet, Value
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.campaigns.models import Segment
from apps.campaigns.selectors import segment_members
from apps.core.errors import ApplicationError
from apps.feedback.models import (
    NPS_RANGES,
    UNFINISHED_STATUSES,
    FeedbackItem,
    FeedbackReply,
    NpsCategory,
    QuestionKind,
    Survey,
    SurveyResponse,
)
from apps.members.models import Member, Tier


def overdue_q(now: datetime | None = None) -> Q:
    return Q(status__in=UNFINISHED_STATUSES, due_at__lt=now or timezone.now())


def member_feedback(*, member: Member) -> QuerySet[FeedbackItem]:
    return FeedbackItem.objects.filter(member=member).select_related("category").order_by("-created_at", "-id")


def member_feedback_get(*, member: Member, pk: int) -> FeedbackItem:
    """One of the member's own items; anyone else's is a 404, the same answer as an item that does not exist."""
    item = member_feedback(member=member).filter(pk=pk).first()
    if item is None:
        raise ApplicationError("not_found", _("No such feedback item."), http_status=404)
    return item


def replies_for_member(*, item: FeedbackItem) -> QuerySet[FeedbackReply]:
    """What the member sees of the conversation: never the internal notes."""
    return item.replies.filter(internal=False).order_by("created_at", "id")


def feedback_summary(member: Member) -> dict[str, Any]:
    """The profile panel's figures: open items, overdue ones, the last NPS answer."""
    unfinished = FeedbackItem.objects.filter(member=member, status__in=UNFINISHED_STATUSES)
    counts = unfinished.aggregate(open=Count("pk"), overdue=Count("pk", filter=Q(due_at__lt=timezone.now())))
    last = SurveyResponse.objects.filter(member=member).order_by("-submitted_at", "-id").select_related("survey").first()
    return {
        "open_feedback": counts["open"],
        "overdue_feedback": counts["overdue"],
        "last_nps": last.nps_score if last else None,
        "last_nps_category": last.nps_category if last else None,
        "last_nps_at": last.submitted_at.isoformat() if last else None,
    }


# Results


@dataclass(frozen=True)
class Nps:
    responses: int
    promoters: int
    passives: int
    detractors: int

    @property
    def score(self) -> Decimal | None:
        """% promoters − % detractors, to one decimal; None without answers."""
        if not self.responses:
            return None
        return (Decimal(100 * (self.promoters - self.detractors)) / self.responses).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _nps_counts() -> dict[str, Count]:
    low, high = NPS_RANGES[NpsCategory.PROMOTER], NPS_RANGES[NpsCategory.DETRACTOR]
    return {
        "responses": Count("pk"),
        "promoters": Count("pk", filter=Q(nps_score__gte=low[0])),
        "passives": Count("pk", filter=Q(nps_score__range=NPS_RANGES[NpsCategory.PASSIVE])),
        "detractors": Count("pk", filter=Q(nps_score__lte=high[1])),
    }


def nps_of(responses: QuerySet[SurveyResponse]) -> Nps:
    return Nps(**responses.aggregate(**_nps_counts()))


@dataclass(frozen=True)
class Breakdown:
    """A way to split a survey's answers: an expression giving each response its group, and the groups' names."""

    name: str
    label: Any
    group: Callable[[], Expression]
    labels: Callable[[], dict[Any, Any]]


BREAKDOWNS: list[Breakdown] = []


def register_response_breakdown(*, name: str, label: Any, group: Callable[[], Expression], labels: Callable[[], dict[Any, Any]]) -> None:
    """Another way to split survey results (journey stage, from the app that owns stages); groups by the respondent."""
    if not any(breakdown.name == name for breakdown in BREAKDOWNS):
        BREAKDOWNS.append(Breakdown(name, label, group, labels))


register_response_breakdown(
    name="tier",
    label=gettext_lazy("Tier"),
    group=lambda: F("member__tier_id"),
    labels=lambda: {tier.pk: tier.name for tier in Tier.objects.order_by("rank")},
)


@dataclass(frozen=True)
class GroupNps:
    group: Any
    label: Any
    nps: Nps


def nps_by(*, responses: QuerySet[SurveyResponse], breakdown: Breakdown) -> list[GroupNps]:
    """The NPS of each group, in one grouped query; respondents outside every group are shown as "—"."""
    labels = breakdown.labels()
    rows = responses.annotate(group=breakdown.group()).values("group").annotate(**_nps_counts()).order_by("group")
    found = {row.pop("group"): Nps(**row) for row in rows}
    ordered = [key for key in labels if key in found] + [key for key in found if key not in labels]
    return [GroupNps(key, labels.get(key, "—"), found[key]) for key in ordered]


def nps_in_segment(*, responses: QuerySet[SurveyResponse], segment: Segment) -> tuple[Nps, Nps]:
    """The NPS of respondents in the segment (its snapshot, or its rules now) and of the others."""
    inside = Exists(segment_members(segment=segment).filter(pk=OuterRef("member_id")))
    return nps_of(responses.filter(inside)), nps_of(responses.exclude(inside))


@dataclass(frozen=True)
class QuestionResult:
    position: int
    text: str
    kind: str
    # choice: [(option, count)]; scale: [(value, count)]; text: how many answered
    counts: list[tuple[Any, int]]
    answered: int
    average: Decimal | None = None


def _answer_of(key: str) -> Func:
    # Question ids are digits, which Django's key lookups would read as array positions: name the object key as text.
    return Func(F("answers"), Value(key), function="jsonb_extract_path", output_field=JSONField())


def question_results(*, survey: Survey) -> list[QuestionResult]:
    """Each question's tally from the answers' JSON, grouped in the database."""
    results = []
    responses = SurveyResponse.objects.filter(survey=survey)
    for question in survey.questions.order_by("position"):
        key = str(question.pk)
        answered = responses.filter(answers__has_key=key)
        if question.kind == QuestionKind.TEXT:
            results.append(QuestionResult(question.position, question.text, question.kind, [], answered.count()))
            continue
        rows = {row["value"]: row["n"] for row in answered.values(value=_answer_of(key)).annotate(n=Count("pk")).order_by()}
        if question.kind == QuestionKind.CHOICE:
            counts = [(option, rows.get(option, 0)) for option in question.choices]
        else:
            counts = [(value, rows.get(value, 0)) for value in range(1, 6)]
        total = sum(n for _value, n in counts)
        average = None
        if question.kind == QuestionKind.SCALE and total:
            average = (Decimal(sum(value * n for value, n in counts)) / total).quantize(Decimal("0.01"), ROUND_HALF_UP)
        results.append(QuestionResult(question.position, question.text, question.kind, counts, total, average))
    return results


def text_answers(*, survey: Survey, limit: int = 200) -> list[dict[str, Any]]:
    """The newest free-text answers, with the question and the respondent's NPS score."""
    texts = {str(q.pk): q for q in survey.questions.filter(kind=QuestionKind.TEXT)}
    if not texts:
        return []
    found = []
    has_any = Q()
    for key in texts:
        has_any |= Q(answers__has_key=key)
    rows = SurveyResponse.objects.filter(survey=survey).filter(has_any).order_by("-submitted_at", "-id")[:limit]
    for response in rows:
        for key, question in texts.items():
            value = response.answers.get(key)
            if value:
                found.append(
                    {
                        "question": question.text,
                        "answer": value,
                        "nps_score": response.nps_score,
                        "member_id": response.member_id,
                        "at": response.submitted_at,
                    }
                )
    return found
