"""What feedback adds to lower apps' registries: the member's timeline and profile, merges, the PIPL export and
anonymisation, segment conditions and the survey link in messages."""

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.campaigns.conditions import _days, register_condition
from apps.feedback.links import survey_token, survey_url
from apps.feedback.models import (
    NPS_RANGES,
    FeedbackItem,
    FeedbackReply,
    FeedbackStatus,
    FeedbackStatusChange,
    NpsCategory,
    QuestionKind,
    Survey,
    SurveyQuestion,
    SurveyResponse,
    SurveyStatus,
    nps_category,
)
from apps.feedback.selectors import feedback_summary
from apps.members.merging import register_member_merger
from apps.members.models import Member
from apps.members.personal_data import redact_member_mentions, register_member_anonymiser, register_member_data_section
from apps.members.profile_sections import register_profile_section, restrict_profile_section
from apps.members.timeline import TimelineItem, TimelineRow, object_links, register_timeline_source, restrict_timeline_source
from apps.messaging.member_values import register_member_value

FEEDBACK_SOURCE = "feedback"
SURVEY_SOURCE = "survey"
ANONYMISED_ANSWER = "[anonymised]"


def feedback_timeline(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    """Each feedback item's arrival and status changes (arrival is the change from nothing to open)."""
    link_to = object_links("admin:feedback_feedbackitem_change")
    items = []
    for row in rows:
        if row["from_status"]:
            title = _("Feedback #%(id)d: %(before)s → %(after)s") % {
                "id": row["item"],
                "before": FeedbackStatus(row["from_status"]).label,
                "after": FeedbackStatus(row["to_status"]).label,
            }
        else:
            title = _("Feedback #%(id)d received: %(subject)s") % {"id": row["item"], "subject": row["subject"]}
        items.append(
            row.item(
                kind="feedback_status",
                title=title,
                detail=row["note"] or row["category"],
                link=link_to(row["item"]),
                data={"feedback_id": row["item"], "from_status": row["from_status"], "to_status": row["to_status"]},
            )
        )
    return items


def survey_timeline(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    link_to = object_links("admin:feedback_surveyresponse_change")
    return [
        row.item(
            kind="survey_answer",
            title=_("Answered the survey %(title)s: NPS %(score)d") % {"title": row["title"], "score": row["nps_score"]},
            detail=NpsCategory(nps_category(row["nps_score"])).label,
            link=link_to(row.item_id),
            data={"survey": row["code"], "nps_score": row["nps_score"]},
        )
        for row in rows
    ]


def merge_feedback(survivor: Member, merged: Member) -> dict[str, int]:
    """Items and their history move over; a survey both answered keeps each answer with its own member (one answer
    per member and survey), every other answer moves."""
    items = FeedbackItem.objects.filter(member=merged).update(member=survivor)
    changes = FeedbackStatusChange.objects.filter(member=merged).update(member=survivor)
    answered = SurveyResponse.objects.filter(member=survivor).values("survey_id")
    responses = SurveyResponse.objects.filter(member=merged).exclude(survey_id__in=answered).update(member=survivor)
    return {"feedback_items": items, "feedback_status_changes": changes, "survey_responses": responses}


def member_feedback_data(member: Member) -> dict[str, Any]:
    items = FeedbackItem.objects.filter(member=member).select_related("category").order_by("created_at", "id")
    return {
        "feedback": [
            {
                "id": item.pk,
                "category": item.category.name,
                "kind": item.kind,
                "channel": item.channel,
                "subject": item.subject,
                "body": item.body,
                "status": item.status,
                "created_at": item.created_at,
                "closed_at": item.closed_at,
                "satisfaction": item.satisfaction,
                "satisfaction_comment": item.satisfaction_comment,
                "replies": list(item.replies.filter(internal=False).values("from_member", "body", "created_at")),
            }
            for item in items
        ],
        "survey_responses": list(
            SurveyResponse.objects.filter(member=member)
            .order_by("submitted_at")
            .values("survey__code", "nps_score", "answers", "submitted_at")
        ),
    }


def anonymise_feedback(member: Member) -> None:
    """The member's phone, email and name out of feedback texts; their free-text survey answers scrubbed."""
    redact_member_mentions(member, FeedbackItem.objects.all(), fields=["subject", "body", "satisfaction_comment"])
    redact_member_mentions(member, FeedbackReply.objects.all(), fields=["body"], owner="item__member")
    redact_member_mentions(member, FeedbackStatusChange.objects.all(), fields=["note"])
    text_questions = {str(pk) for pk in _text_question_ids(member)}
    for response in SurveyResponse.objects.filter(member=member).select_for_update():
        scrubbed = {key: ANONYMISED_ANSWER if key in text_questions else value for key, value in response.answers.items()}
        if scrubbed != response.answers:
            response.answers = scrubbed
            response.save(update_fields=["answers"])


def _text_question_ids(member: Member) -> QuerySet:
    return SurveyQuestion.objects.filter(kind=QuestionKind.TEXT, survey__responses__member=member).values_list("pk", flat=True)


def _nps_condition(category: str) -> Any:
    low, high = NPS_RANGES[category]

    def build(operator: str, value: Any, path: str = f"nps_{category}") -> Q:
        since = timezone.now() - timedelta(days=_days(value, path))
        answered = Q(pk__in=SurveyResponse.objects.filter(submitted_at__gte=since, nps_score__range=(low, high)).values("member_id"))
        return ~answered if operator == "not_within_days" else answered

    return build


NPS_CONDITION_LABELS = {
    NpsCategory.PROMOTER: gettext_lazy("NPS promoter (answered 9–10)"),
    NpsCategory.PASSIVE: gettext_lazy("NPS passive (answered 7–8)"),
    NpsCategory.DETRACTOR: gettext_lazy("NPS detractor (answered 0–6)"),
}


def survey_url_for(template_code: str, member: Member) -> str:
    """The recipient's own link to the open survey this template sends ("" when no open survey uses the template)."""
    survey = Survey.objects.filter(message_template_code=template_code, status=SurveyStatus.OPEN).only("pk", "link_valid_days").first()
    if survey is None:
        return ""
    return survey_url(survey_token(member_id=member.pk, survey_id=survey.pk, valid_days=survey.link_valid_days))


def register() -> None:
    register_timeline_source(
        name=FEEDBACK_SOURCE,
        label=gettext_lazy("Feedback"),
        rows=lambda member: FeedbackStatusChange.objects.filter(member_id=member.pk),
        time_field="changed_at",
        columns={
            "item": "item_id",
            "subject": "item__subject",
            "category": "item__category__name",
            "from_status": "from_status",
            "to_status": "to_status",
            "note": "note",
        },
        items=feedback_timeline,
    )
    register_timeline_source(
        name=SURVEY_SOURCE,
        label=gettext_lazy("Survey answers"),
        rows=lambda member: SurveyResponse.objects.filter(member_id=member.pk),
        time_field="submitted_at",
        columns={"title": "survey__title", "code": "survey__code", "nps_score": "nps_score"},
        items=survey_timeline,
    )
    register_profile_section(name="feedback", label=gettext_lazy("Feedback and NPS"), summary=feedback_summary, order=80)
    # Complaints and survey answers are customer service's: a role that may only view members reads neither.
    restrict_timeline_source(name=FEEDBACK_SOURCE, permission="feedback.view_feedbackitem")
    restrict_timeline_source(name=SURVEY_SOURCE, permission="feedback.view_surveyresponse")
    restrict_profile_section(name="feedback", permission="feedback.view_feedbackitem")
    register_member_merger(name="feedback", move=merge_feedback)
    register_member_data_section(name="feedback", collect=member_feedback_data)
    register_member_anonymiser(anonymise_feedback)
    register_member_value(variable="survey_url", value=survey_url_for)
    for category in NpsCategory.values:
        register_condition(
            f"nps_{category}", label=NPS_CONDITION_LABELS[category], operators=("within_days", "not_within_days"), value_kind="number"
        )(_nps_condition(category))
