"""What feedback adds to lower apps' registries: the member's timeline and profile, merges, the PIPL export and
anonymisation, segment conditions and the survey link in messages."""

from datetime import timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.urls import reverse
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
)
from apps.feedback.selectors import feedback_summary
from apps.members.merging import register_member_merger
from apps.members.models import Member
from apps.members.personal_data import redact_member_mentions, register_member_anonymiser, register_member_data_section
from apps.members.profile_sections import register_profile_section, restrict_profile_section
from apps.members.timeline import TimelineCursor, TimelineItem, newest_rows, register_timeline_source, restrict_timeline_source
from apps.messaging.member_values import register_member_value

FEEDBACK_SOURCE = "feedback"
SURVEY_SOURCE = "survey"
ANONYMISED_ANSWER = "[anonymised]"


def feedback_timeline(member: Member, before: TimelineCursor | None, limit: int) -> list[TimelineItem]:
    """Each feedback item's arrival and status changes (arrival is the change from nothing to open)."""
    changes = newest_rows(
        FeedbackStatusChange.objects.filter(member=member).select_related("item", "item__category"),
        name=FEEDBACK_SOURCE,
        before=before,
        limit=limit,
        time_field="changed_at",
    )
    items = []
    for change in changes:
        item = change.item
        if change.from_status:
            title = _("Feedback #%(id)d: %(before)s → %(after)s") % {
                "id": item.pk,
                "before": FeedbackStatus(change.from_status).label,
                "after": FeedbackStatus(change.to_status).label,
            }
        else:
            title = _("Feedback #%(id)d received: %(subject)s") % {"id": item.pk, "subject": item.subject}
        items.append(
            TimelineItem(
                at=change.changed_at,
                source=FEEDBACK_SOURCE,
                item_id=change.pk,
                kind="feedback_status",
                title=title,
                detail=change.note or item.category.name,
                link=reverse("admin:feedback_feedbackitem_change", args=[item.pk]),
                data={"feedback_id": item.pk, "from_status": change.from_status, "to_status": change.to_status},
            )
        )
    return items


def survey_timeline(member: Member, before: TimelineCursor | None, limit: int) -> list[TimelineItem]:
    responses = newest_rows(
        SurveyResponse.objects.filter(member=member).select_related("survey"),
        name=SURVEY_SOURCE,
        before=before,
        limit=limit,
        time_field="submitted_at",
    )
    return [
        TimelineItem(
            at=response.submitted_at,
            source=SURVEY_SOURCE,
            item_id=response.pk,
            kind="survey_answer",
            title=_("Answered the survey %(title)s: NPS %(score)d") % {"title": response.survey.title, "score": response.nps_score},
            detail=NpsCategory(response.nps_category).label,
            link=reverse("admin:feedback_surveyresponse_change", args=[response.pk]),
            data={"survey": response.survey.code, "nps_score": response.nps_score},
        )
        for response in responses
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
    register_timeline_source(name=FEEDBACK_SOURCE, label=gettext_lazy("Feedback"), fetch=feedback_timeline)
    register_timeline_source(name=SURVEY_SOURCE, label=gettext_lazy("Survey answers"), fetch=survey_timeline)
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
