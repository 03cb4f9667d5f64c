"""Feedback and complaints (投诉/建议) with an SLA per category, and short NPS surveys members answer once.

Every status change of a feedback item is a ``FeedbackStatusChange`` row written by the services, so "who moved it,
when" is always answerable; a survey answer is one ``SurveyResponse`` per member and survey (a unique constraint).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.members.models import Member


class FeedbackCategory(models.Model):
    code = models.SlugField(pgettext_lazy("feedback", "code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    sla_hours = models.PositiveIntegerField(
        _("SLA (hours)"), help_text=_("An item of this category is due this many hours after it arrives.")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("feedback category")
        verbose_name_plural = _("feedback categories")
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=Q(sla_hours__gte=1), name="feedback_category_sla_positive")]

    def __str__(self) -> str:
        return self.name


class FeedbackKind(models.TextChoices):
    COMPLAINT = "complaint", _("Complaint")
    SUGGESTION = "suggestion", _("Suggestion")
    QUESTION = "question", _("Question")
    PRAISE = "praise", _("Praise")


class FeedbackChannel(models.TextChoices):
    MEMBER_APP = "member_app", _("Member app")
    PHONE = "phone", _("Phone")
    STORE = "store", _("Store / dealer")
    WECHAT = "wechat", _("WeChat")
    EMAIL = "email", _("Email")


class FeedbackPriority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class FeedbackStatus(models.TextChoices):
    OPEN = "open", _("Open")
    IN_PROGRESS = "in_progress", _("In progress")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", pgettext_lazy("feedback", "Closed")


# The statuses each status may move to; the services enforce it and docs/feedback.md states it.
FEEDBACK_TRANSITIONS: dict[str, set[str]] = {
    FeedbackStatus.OPEN: {FeedbackStatus.IN_PROGRESS, FeedbackStatus.RESOLVED},
    FeedbackStatus.IN_PROGRESS: {FeedbackStatus.RESOLVED},
    # Reopened when the member answers a resolution or staff reopen it.
    FeedbackStatus.RESOLVED: {FeedbackStatus.CLOSED, FeedbackStatus.IN_PROGRESS},
    FeedbackStatus.CLOSED: set(),
}
UNFINISHED_STATUSES = (FeedbackStatus.OPEN, FeedbackStatus.IN_PROGRESS)


class FeedbackItem(models.Model):
    id = models.BigAutoField(primary_key=True)
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="feedback_items", db_index=False)
    category = models.ForeignKey(FeedbackCategory, verbose_name=_("category"), on_delete=models.PROTECT, related_name="items")
    kind = models.CharField(_("kind"), max_length=12, choices=FeedbackKind.choices, default=FeedbackKind.COMPLAINT)
    channel = models.CharField(_("channel"), max_length=12, choices=FeedbackChannel.choices, default=FeedbackChannel.MEMBER_APP)
    priority = models.CharField(_("priority"), max_length=8, choices=FeedbackPriority.choices, default=FeedbackPriority.NORMAL)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("description"), max_length=5000)
    status = models.CharField(_("status"), max_length=12, choices=FeedbackStatus.choices, default=FeedbackStatus.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("assignee"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("received at"), default=timezone.now)
    due_at = models.DateTimeField(_("due at"))
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    satisfaction = models.PositiveSmallIntegerField(_("satisfaction (1–5)"), null=True, blank=True)
    satisfaction_comment = models.CharField(_("satisfaction comment"), max_length=500, blank=True)
    rated_at = models.DateTimeField(_("rated at"), null=True, blank=True)

    class Meta:
        verbose_name = _("feedback item")
        verbose_name_plural = _("feedback items")
        ordering = ["-id"]
        permissions = [("handle_feedbackitem", _("Can handle feedback: assign, reply, resolve, close"))]
        indexes = [
            models.Index(fields=["member", "-created_at", "-id"], name="feedback_member_idx"),
            models.Index(fields=["assignee", "status", "due_at"], name="feedback_queue_idx"),
            models.Index(fields=["status", "due_at"], name="feedback_due_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(satisfaction__isnull=True) | Q(satisfaction__gte=1, satisfaction__lte=5), name="feedback_satisfaction_1_to_5"
            ),
            models.CheckConstraint(
                condition=Q(satisfaction__isnull=True) | Q(status=FeedbackStatus.CLOSED), name="feedback_rated_only_when_closed"
            ),
            models.CheckConstraint(condition=Q(due_at__gt=models.F("created_at")), name="feedback_due_after_received"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    @property
    def is_overdue(self) -> bool:
        return self.status in UNFINISHED_STATUSES and self.due_at < timezone.now()


class FeedbackReply(models.Model):
    id = models.BigAutoField(primary_key=True)
    item = models.ForeignKey(FeedbackItem, verbose_name=_("feedback item"), on_delete=models.CASCADE, related_name="replies")
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("staff"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    from_member = models.BooleanField(_("from the member"), default=False)
    internal = models.BooleanField(_("internal note"), default=False, help_text=_("Seen by staff only, never by the member."))
    body = models.TextField(_("reply"), max_length=5000)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("feedback reply")
        verbose_name_plural = _("feedback replies")
        ordering = ["created_at", "id"]
        constraints = [
            # A reply is the member's or one staff user's; a member never writes an internal note.
            models.CheckConstraint(
                condition=Q(from_member=True, staff__isnull=True, internal=False) | Q(from_member=False, staff__isnull=False),
                name="feedback_reply_author",
            ),
        ]

    def __str__(self) -> str:
        return self.body[:50]


class FeedbackStatusChange(models.Model):
    id = models.BigAutoField(primary_key=True)
    item = models.ForeignKey(FeedbackItem, verbose_name=_("feedback item"), on_delete=models.CASCADE, related_name="status_changes")
    # The item's member, kept here so a member's timeline reads its changes from one index.
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="+", db_index=False)
    from_status = models.CharField(_("from"), max_length=12, choices=FeedbackStatus.choices, blank=True)
    to_status = models.CharField(_("to"), max_length=12, choices=FeedbackStatus.choices)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("staff"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.CharField(_("note"), max_length=500, blank=True)
    changed_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("feedback status change")
        verbose_name_plural = _("feedback status changes")
        ordering = ["changed_at", "id"]
        indexes = [models.Index(fields=["member", "-changed_at", "-id"], name="feedback_change_member_idx")]

    def __str__(self) -> str:
        return f"{self.get_from_status_display() or '—'} → {self.get_to_status_display()}"


class SurveyStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    OPEN = "open", _("Open for answers")
    CLOSED = "closed", pgettext_lazy("feedback", "Closed")


MAX_SURVEY_QUESTIONS = 5


class Survey(models.Model):
    code = models.SlugField(pgettext_lazy("feedback", "code"), max_length=40, unique=True)
    title = models.CharField(_("title"), max_length=200)
    intro = models.TextField(_("introduction"), blank=True)
    nps_question = models.CharField(_("NPS question"), max_length=300, default=_("How likely are you to recommend us to a friend? (0–10)"))
    status = models.CharField(_("status"), max_length=8, choices=SurveyStatus.choices, default=SurveyStatus.DRAFT)
    link_valid_days = models.PositiveIntegerField(_("links valid for (days)"), default=30)
    message_template_code = models.SlugField(
        _("message template"),
        max_length=64,
        blank=True,
        help_text=_(
            "Messages of this template carry each recipient's own survey link as {{ survey_url }}: a campaign sending it sends the survey."
        ),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        ordering = ["-id"]
        permissions = [("view_survey_results", _("Can see survey results"))]
        constraints = [
            models.CheckConstraint(condition=Q(link_valid_days__gte=1), name="survey_link_valid_days_positive"),
            models.UniqueConstraint(
                fields=["message_template_code"], condition=~Q(message_template_code=""), name="survey_one_per_message_template"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class QuestionKind(models.TextChoices):
    TEXT = "text", _("Free text")
    CHOICE = "choice", _("Single choice")
    SCALE = "scale", _("Scale 1–5")


SCALE_MAX = 5


class SurveyQuestion(models.Model):
    survey = models.ForeignKey(Survey, verbose_name=_("survey"), on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveSmallIntegerField(_("position"))
    kind = models.CharField(_("kind"), max_length=8, choices=QuestionKind.choices)
    text = models.CharField(_("question"), max_length=300)
    choices = models.JSONField(_("choices"), default=list, blank=True, help_text=_("For a single choice: the options, as a list."))
    required = models.BooleanField(_("required"), default=False)

    class Meta:
        verbose_name = _("survey question")
        verbose_name_plural = _("survey questions")
        ordering = ["survey", "position"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "position"], name="survey_question_position_unique"),
            models.CheckConstraint(condition=Q(position__gte=1, position__lte=MAX_SURVEY_QUESTIONS), name="survey_at_most_five_questions"),
        ]

    def __str__(self) -> str:
        return self.text


class NpsCategory(models.TextChoices):
    PROMOTER = "promoter", _("Promoter (9–10)")
    PASSIVE = "passive", _("Passive (7–8)")
    DETRACTOR = "detractor", _("Detractor (0–6)")


# The NPS scores of each category, as the inclusive range the condition and the results both use.
NPS_RANGES = {NpsCategory.PROMOTER: (9, 10), NpsCategory.PASSIVE: (7, 8), NpsCategory.DETRACTOR: (0, 6)}


def nps_category(score: int) -> str:
    """The NPS category of a score from 0 to 10."""
    return next(category for category, (low, high) in NPS_RANGES.items() if low <= score <= high)


class SurveyResponse(models.Model):
    id = models.BigAutoField(primary_key=True)
    survey = models.ForeignKey(Survey, verbose_name=_("survey"), on_delete=models.PROTECT, related_name="responses")
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="survey_responses", db_index=False)
    nps_score = models.PositiveSmallIntegerField(_("NPS score (0–10)"))
    # The other questions' answers by question id: text, the chosen option, or a scale value.
    answers = models.JSONField(pgettext_lazy("feedback", "answers"), default=dict, blank=True)
    submitted_at = models.DateTimeField(_("submitted at"), default=timezone.now)

    class Meta:
        verbose_name = _("survey response")
        verbose_name_plural = _("survey responses")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["member", "-submitted_at", "-id"], name="survey_response_member_idx"),
            models.Index(fields=["submitted_at", "nps_score"], name="survey_response_time_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["survey", "member"], name="survey_response_once_per_member"),
            models.CheckConstraint(condition=Q(nps_score__lte=10), name="survey_response_nps_0_to_10"),
        ]

    def __str__(self) -> str:
        return f"{self.survey} · {self.nps_score}"

    @property
    def nps_category(self) -> str:
        return nps_category(self.nps_score)
