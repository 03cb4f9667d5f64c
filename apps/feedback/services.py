"""Every change of feedback and surveys: one transaction each, the item locked before it changes.

Feedback moves open → in progress → resolved → closed (``FEEDBACK_TRANSITIONS``); a resolved item goes back to in
progress when the member answers it or staff reopen it, and a closed item is final. Each move writes a
``FeedbackStatusChange`` row and a ``feedback.status_changed`` outbox event in the same transaction.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.activity import activity_happened
from apps.core.errors import ApplicationError
from apps.core.models import User
from apps.core.outbox import EventType, outbox_emit
from apps.feedback.links import survey_link_read
from apps.feedback.locks import lock_feedback_item
from apps.feedback.models import (
    FEEDBACK_TRANSITIONS,
    MAX_SURVEY_QUESTIONS,
    SCALE_MAX,
    UNFINISHED_STATUSES,
    FeedbackCategory,
    FeedbackChannel,
    FeedbackItem,
    FeedbackKind,
    FeedbackPriority,
    FeedbackReply,
    FeedbackStatus,
    FeedbackStatusChange,
    QuestionKind,
    Survey,
    SurveyQuestion,
    SurveyResponse,
    SurveyStatus,
)
from apps.members.models import Member, MemberStatus

SURVEY_ACTIVITY_KIND = "survey"
MAX_TEXT_ANSWER = 2000


def _choice(value: str, allowed: Any, field: str) -> str:
    if value not in allowed.values:
        raise ApplicationError(
            "invalid_choice", _("%(value)s is not a valid %(field)s.") % {"value": value, "field": field}, fields={field: value}
        )
    return value


def _text(value: str, field: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise ApplicationError("required", _("The %(field)s must not be empty.") % {"field": field}, fields={field: ""})
    if len(value) > limit:
        raise ApplicationError(
            "too_long", _("The %(field)s is longer than %(limit)d characters.") % {"field": field, "limit": limit}, fields={field: ""}
        )
    return value


def _status_changed(item: FeedbackItem, before: str, *, staff: User | None, note: str = "", now: datetime) -> None:
    FeedbackStatusChange.objects.create(
        item=item, member_id=item.member_id, from_status=before, to_status=item.status, staff=staff, note=note[:500], changed_at=now
    )
    outbox_emit(
        type=EventType.FEEDBACK_STATUS_CHANGED,
        member_id=item.member_id,
        occurred_at=now,
        data={
            "member_id": item.member_id,
            "feedback_id": item.pk,
            "category": item.category.code,
            "kind": item.kind,
            "priority": item.priority,
            "from_status": before or None,
            "to_status": item.status,
            "due_at": item.due_at.isoformat(),
            "satisfaction": item.satisfaction,
        },
    )


@transaction.atomic
def feedback_create(
    *,
    member: Member,
    category: FeedbackCategory,
    subject: str,
    body: str,
    kind: str = FeedbackKind.COMPLAINT,
    channel: str = FeedbackChannel.MEMBER_APP,
    priority: str = FeedbackPriority.NORMAL,
    staff: User | None = None,
    assignee: User | None = None,
    now: datetime | None = None,
) -> FeedbackItem:
    """A new item, due ``category.sla_hours`` after it arrives; recorded by staff when ``staff`` is given."""
    if member.status == MemberStatus.CLOSED:
        raise ApplicationError("member_closed", _("The member's account is closed."), fields={"member": ""})
    if not category.is_active:
        raise ApplicationError("category_inactive", _("This category is no longer in use."), fields={"category": category.code})
    now = now or timezone.now()
    item = FeedbackItem.objects.create(
        member=member,
        category=category,
        kind=_choice(kind, FeedbackKind, "kind"),
        channel=_choice(channel, FeedbackChannel, "channel"),
        priority=_choice(priority, FeedbackPriority, "priority"),
        subject=_text(subject, "subject", 200),
        body=_text(body, "body", 5000),
        created_by=staff,
        assignee=_assignable(assignee),
        created_at=now,
        due_at=now + timedelta(hours=category.sla_hours),
    )
    _status_changed(item, "", staff=staff, now=now)
    return item


def _assignable(user: User | None) -> User | None:
    if user is not None and not (user.is_active and user.is_staff and user.has_perm("feedback.handle_feedbackitem")):
        raise ApplicationError(
            "assignee_cannot_handle", _("%(user)s cannot handle feedback.") % {"user": user.get_username()}, fields={"assignee": ""}
        )
    return user


def _move(item: FeedbackItem, to: str, *, staff: User | None, note: str = "", now: datetime) -> FeedbackItem:
    if to not in FEEDBACK_TRANSITIONS[item.status]:
        raise ApplicationError(
            "invalid_transition",
            _("A feedback item that is %(status)s cannot become %(to)s.")
            % {"status": item.get_status_display().lower(), "to": FeedbackStatus(to).label.lower()},
            fields={"status": item.status},
            http_status=409,
        )
    before = item.status
    item.status = to
    if to == FeedbackStatus.RESOLVED:
        item.resolved_at = now
    elif to == FeedbackStatus.CLOSED:
        item.closed_at = now
    elif to == FeedbackStatus.IN_PROGRESS and before == FeedbackStatus.RESOLVED:
        item.resolved_at = None
    item.save(update_fields=["status", "resolved_at", "closed_at"])
    _status_changed(item, before, staff=staff, note=note, now=now)
    return item


@transaction.atomic
def feedback_assign(*, item: FeedbackItem, assignee: User, staff: User) -> FeedbackItem:
    """Give the item to an agent; an open item starts being handled."""
    item = lock_feedback_item(item_id=item.pk)
    if item.status == FeedbackStatus.CLOSED:
        raise ApplicationError("feedback_closed", _("A closed item cannot be reassigned."), fields={"assignee": ""}, http_status=409)
    item.assignee = _assignable(assignee)
    item.save(update_fields=["assignee"])
    if item.status == FeedbackStatus.OPEN:
        _move(
            item,
            FeedbackStatus.IN_PROGRESS,
            staff=staff,
            note=_("Assigned to %(user)s") % {"user": assignee.get_username()},
            now=timezone.now(),
        )
    return item


@transaction.atomic
def feedback_start(*, item: FeedbackItem, staff: User) -> FeedbackItem:
    """The agent takes an open item (it becomes theirs when nobody has it)."""
    item = lock_feedback_item(item_id=item.pk)
    if item.assignee_id is None:
        item.assignee = _assignable(staff)
        item.save(update_fields=["assignee"])
    return _move(item, FeedbackStatus.IN_PROGRESS, staff=staff, now=timezone.now())


@transaction.atomic
def feedback_reply(
    *, item: FeedbackItem, body: str, staff: User | None = None, member: Member | None = None, internal: bool = False
) -> FeedbackReply:
    """A reply by staff (``internal`` for a note the member never sees) or by the item's member.

    A member's reply to a resolved item reopens it (in progress); nobody replies to a closed one.
    """
    if (staff is None) == (member is None):
        raise ValueError("a reply has exactly one author: staff or the member")
    item = lock_feedback_item(item_id=item.pk)
    if member is not None and item.member_id != member.pk:
        raise ApplicationError("not_found", _("No such feedback item."), http_status=404)
    if item.status == FeedbackStatus.CLOSED:
        raise ApplicationError("feedback_closed", _("This item is closed; please send new feedback."), fields={"body": ""}, http_status=409)
    now = timezone.now()
    reply = FeedbackReply.objects.create(
        item=item,
        staff=staff,
        from_member=member is not None,
        internal=internal and member is None,
        body=_text(body, "body", 5000),
        created_at=now,
    )
    if member is not None and item.status == FeedbackStatus.RESOLVED:
        _move(item, FeedbackStatus.IN_PROGRESS, staff=None, note=_("The member replied"), now=now)
    return reply


@transaction.atomic
def feedback_resolve(*, item: FeedbackItem, staff: User, resolution: str) -> FeedbackItem:
    """Resolved with the answer the member sees (a reply); the member may still answer back, which reopens it."""
    item = lock_feedback_item(item_id=item.pk)
    resolution = _text(resolution, "resolution", 5000)
    now = timezone.now()
    _move(item, FeedbackStatus.RESOLVED, staff=staff, note=resolution, now=now)
    FeedbackReply.objects.create(item=item, staff=staff, body=resolution, created_at=now)
    return item


@transaction.atomic
def feedback_reopen(*, item: FeedbackItem, staff: User, reason: str) -> FeedbackItem:
    """Back to in progress: only a resolved item (a closed one is final)."""
    item = lock_feedback_item(item_id=item.pk)
    if item.status != FeedbackStatus.RESOLVED:
        raise ApplicationError(
            "invalid_transition", _("Only a resolved item can be reopened."), fields={"status": item.status}, http_status=409
        )
    return _move(item, FeedbackStatus.IN_PROGRESS, staff=staff, note=_text(reason, "reason", 500), now=timezone.now())


@transaction.atomic
def feedback_close(*, item: FeedbackItem, staff: User, note: str = "") -> FeedbackItem:
    """Closed for good; the member is then asked how satisfied they are (once)."""
    item = lock_feedback_item(item_id=item.pk)
    return _move(item, FeedbackStatus.CLOSED, staff=staff, note=note, now=timezone.now())


@transaction.atomic
def feedback_rate(*, item: FeedbackItem, member: Member, satisfaction: int, comment: str = "") -> FeedbackItem:
    """The member's satisfaction (1–5) with a closed item, given once."""
    item = lock_feedback_item(item_id=item.pk)
    if item.member_id != member.pk:
        raise ApplicationError("not_found", _("No such feedback item."), http_status=404)
    if isinstance(satisfaction, bool) or not isinstance(satisfaction, int) or not 1 <= satisfaction <= 5:
        raise ApplicationError(
            "invalid_satisfaction", _("Satisfaction is a whole number from 1 to 5."), fields={"satisfaction": satisfaction}
        )
    if item.status != FeedbackStatus.CLOSED:
        raise ApplicationError(
            "not_closed", _("Satisfaction is asked once the item is closed."), fields={"satisfaction": ""}, http_status=409
        )
    if item.satisfaction is not None:
        raise ApplicationError("already_rated", _("You have already rated this item."), fields={"satisfaction": ""}, http_status=409)
    if len(comment) > 500:
        raise ApplicationError("too_long", _("The comment is longer than 500 characters."), fields={"comment": ""})
    item.satisfaction, item.satisfaction_comment, item.rated_at = satisfaction, comment.strip(), timezone.now()
    item.save(update_fields=["satisfaction", "satisfaction_comment", "rated_at"])
    return item


def feedback_escalate_overdue(*, now: datetime | None = None) -> int:
    """Overdue unfinished items not escalated yet become urgent, in one statement; how many were escalated."""
    now = now or timezone.now()
    return FeedbackItem.objects.filter(status__in=UNFINISHED_STATUSES, due_at__lt=now, escalated_at__isnull=True).update(
        escalated_at=now, priority=FeedbackPriority.URGENT
    )


# Surveys


def _question_check(position: int, kind: str, text: str, choices: Any) -> None:
    field = f"questions.{position}"
    _choice(kind, QuestionKind, f"{field}.kind")
    _text(text, f"{field}.text", 300)
    if kind == QuestionKind.CHOICE:
        if not isinstance(choices, list) or not 2 <= len(choices) <= 10 or not all(isinstance(c, str) and c.strip() for c in choices):
            raise ApplicationError(
                "invalid_choices", _("A single-choice question needs 2 to 10 options."), fields={f"{field}.choices": choices}
            )
        if len(set(choices)) != len(choices):
            raise ApplicationError("invalid_choices", _("The options must differ."), fields={f"{field}.choices": choices})
    elif choices:
        raise ApplicationError("invalid_choices", _("Only a single-choice question has options."), fields={f"{field}.choices": choices})


def survey_check(*, survey: Survey, questions: list[SurveyQuestion]) -> None:
    """What a survey may be: at most five questions besides the NPS one, each well formed."""
    if len(questions) > MAX_SURVEY_QUESTIONS:
        raise ApplicationError(
            "too_many_questions",
            _("A survey has at most %(count)d questions besides the NPS question.") % {"count": MAX_SURVEY_QUESTIONS},
            fields={"questions": ""},
        )
    for position, question in enumerate(questions, start=1):
        _question_check(position, question.kind, question.text, question.choices)


@transaction.atomic
def survey_open(*, survey: Survey) -> Survey:
    survey = Survey.objects.select_for_update().get(pk=survey.pk)
    if survey.status != SurveyStatus.DRAFT:
        raise ApplicationError(
            "invalid_transition", _("Only a draft survey can be opened."), fields={"status": survey.status}, http_status=409
        )
    survey_check(survey=survey, questions=list(survey.questions.order_by("position")))
    survey.status = SurveyStatus.OPEN
    survey.save(update_fields=["status"])
    return survey


@transaction.atomic
def survey_close(*, survey: Survey) -> Survey:
    survey = Survey.objects.select_for_update().get(pk=survey.pk)
    if survey.status != SurveyStatus.OPEN:
        raise ApplicationError(
            "invalid_transition", _("Only an open survey can be closed."), fields={"status": survey.status}, http_status=409
        )
    survey.status = SurveyStatus.CLOSED
    survey.save(update_fields=["status"])
    return survey


def survey_for_link(*, token: str, member: Member) -> Survey:
    """The survey a link opens for this member: another member's link, a tampered or expired one is refused."""
    link = survey_link_read(token=token)
    if link.member_id != member.pk:
        raise ApplicationError("invalid_survey_link", _("This survey link is not valid."), fields={"token": ""}, http_status=404)
    survey = Survey.objects.filter(pk=link.survey_id).first()
    if survey is None:
        raise ApplicationError("invalid_survey_link", _("This survey link is not valid."), fields={"token": ""}, http_status=404)
    return survey


def _answer(question: SurveyQuestion, value: Any) -> Any:
    field = f"answers.{question.pk}"
    if question.kind == QuestionKind.TEXT:
        if not isinstance(value, str) or len(value) > MAX_TEXT_ANSWER:
            raise ApplicationError(
                "invalid_answer", _("A text answer of at most %(limit)d characters.") % {"limit": MAX_TEXT_ANSWER}, fields={field: ""}
            )
        if "\x00" in value:
            # PostgreSQL's JSON cannot hold it: the insert would fail with an error naming no question.
            raise ApplicationError("invalid_answer", _("The answer cannot contain the NUL character."), fields={field: ""})
        return value.strip()
    if question.kind == QuestionKind.CHOICE:
        if value not in question.choices:
            raise ApplicationError("invalid_answer", _("Choose one of the question's options."), fields={field: value})
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= SCALE_MAX:
        raise ApplicationError("invalid_answer", _("A whole number from 1 to %(max)d.") % {"max": SCALE_MAX}, fields={field: value})
    return value


def survey_submit(*, token: str, member: Member, nps_score: Any, answers: Mapping[str, Any] | None = None) -> SurveyResponse:
    """The member's one answer to a survey, through its signed link; a second answer is refused (the unique constraint
    decides between two racing ones). The answer announces a ``survey`` activity with its NPS score."""
    survey = survey_for_link(token=token, member=member)
    if survey.status != SurveyStatus.OPEN:
        raise ApplicationError("survey_closed", _("This survey is not open for answers."), fields={"token": ""}, http_status=409)
    if isinstance(nps_score, bool) or not isinstance(nps_score, int) or not 0 <= nps_score <= 10:
        raise ApplicationError("invalid_nps_score", _("The NPS score is a whole number from 0 to 10."), fields={"nps_score": nps_score})
    answers = dict(answers or {})
    questions = {str(question.pk): question for question in survey.questions.all()}
    unknown = sorted(set(answers) - set(questions))
    if unknown:
        raise ApplicationError(
            "unknown_question", _("Not questions of this survey: %(ids)s") % {"ids": ", ".join(unknown)}, fields={"answers": unknown}
        )
    cleaned: dict[str, Any] = {}
    for key, question in questions.items():
        value = answers.get(key)
        if value is None or value == "":
            if question.required:
                raise ApplicationError("answer_required", _("This question must be answered."), fields={f"answers.{key}": ""})
            continue
        cleaned[key] = _answer(question, value)
    try:
        with transaction.atomic():
            response = SurveyResponse.objects.create(survey=survey, member=member, nps_score=nps_score, answers=cleaned)
            activity_happened(
                member_id=member.pk,
                kind=SURVEY_ACTIVITY_KIND,
                event_id=f"survey-response:{response.pk}",
                occurred_at=response.submitted_at,
                nps_score=nps_score,
                properties={"survey": survey.code},
            )
    except IntegrityError:
        raise ApplicationError(
            "already_answered", _("You have already answered this survey."), fields={"token": ""}, http_status=409
        ) from None
    return response
