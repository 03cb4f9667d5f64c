"""Custom attributes of members, tag jobs over many members, and auto-tag rules.

Attribute values are stored typed (one column per type, one row per member and attribute) with an index on
(attribute, value) per column, so a segment condition on an attribute is one ``member IN (indexed range)`` subquery.
"""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.campaigns.models import Segment
from apps.members.models import Member, Tag


class AttributeKind(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
    CHOICE = "choice", _("Choice")


class Attribute(models.Model):
    code = models.CharField(
        _("code"),
        max_length=40,
        unique=True,
        validators=[RegexValidator(r"^[a-z][a-z0-9_]*$", _("Lower-case letters, digits and underscores, starting with a letter."))],
        help_text=_("The column name in attribute files and the field of segment conditions."),
    )
    label = models.CharField(_("label"), max_length=100)
    kind = models.CharField(_("type"), max_length=10, choices=AttributeKind.choices)
    choices = models.JSONField(_("choices"), default=list, blank=True, help_text=_("The allowed values of a choice attribute."))
    required = models.BooleanField(_("required"), default=False, help_text=_("A value may be changed but never cleared."))
    min_value = models.DecimalField(_("minimum"), max_digits=18, decimal_places=4, null=True, blank=True)
    max_value = models.DecimalField(_("maximum"), max_digits=18, decimal_places=4, null=True, blank=True)
    min_date = models.DateField(_("earliest date"), null=True, blank=True)
    max_date = models.DateField(_("latest date"), null=True, blank=True)
    max_length = models.PositiveIntegerField(_("maximum length"), null=True, blank=True)
    pattern = models.CharField(_("pattern"), max_length=200, blank=True, help_text=_("A regular expression the whole text must match."))
    personal = models.BooleanField(
        _("personal data"),
        default=False,
        help_text=_("Masked for staff who may not see members' personal data, and cleared when a member is anonymised."),
    )
    position = models.PositiveIntegerField(_("position"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("attribute")
        verbose_name_plural = _("attributes")
        ordering = ["position", "code"]
        permissions = [("edit_member_attributes", _("Can change members' attribute values"))]

    def __str__(self) -> str:
        return self.label


class AttributeValue(models.Model):
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="attribute_values")
    attribute = models.ForeignKey(Attribute, verbose_name=_("attribute"), on_delete=models.CASCADE, related_name="values")
    # Text and choice values.
    value_text = models.CharField(_("text"), max_length=500, null=True, blank=True)
    value_number = models.DecimalField(_("number"), max_digits=18, decimal_places=4, null=True, blank=True)
    value_date = models.DateField(_("date"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("attribute value")
        verbose_name_plural = _("attribute values")
        constraints = [
            models.UniqueConstraint(fields=["member", "attribute"], name="attribute_value_once"),
            # Exactly one typed column holds the value: an empty value is no row.
            models.CheckConstraint(
                condition=Q(value_text__isnull=False, value_number__isnull=True, value_date__isnull=True)
                | Q(value_text__isnull=True, value_number__isnull=False, value_date__isnull=True)
                | Q(value_text__isnull=True, value_number__isnull=True, value_date__isnull=False),
                name="attribute_value_one_column",
            ),
        ]
        indexes = [
            models.Index(fields=["attribute", "value_text"], name="attribute_value_text_idx"),
            models.Index(fields=["attribute", "value_number"], name="attribute_value_number_idx"),
            models.Index(fields=["attribute", "value_date"], name="attribute_value_date_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.attribute_id}:{self.member_id}"


class TagJobAction(models.TextChoices):
    ADD = "add", _("Add the tag")
    REMOVE = "remove", _("Remove the tag")


class TagJobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class TagJob(models.Model):
    """A tag added to or removed from a segment or an uploaded list of members, a chunk per transaction."""

    tag = models.ForeignKey(Tag, verbose_name=_("tag"), on_delete=models.PROTECT, related_name="+")
    action = models.CharField(_("action"), max_length=10, choices=TagJobAction.choices, default=TagJobAction.ADD)
    segment = models.ForeignKey(Segment, verbose_name=_("segment"), on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=TagJobStatus.choices, default=TagJobStatus.QUEUED, db_index=True)
    total = models.PositiveIntegerField(_("members"), default=0)
    done = models.PositiveIntegerField(_("members done"), default=0)
    changed = models.PositiveIntegerField(_("members changed"), default=0)
    # The last member id written: a re-run after a crash resumes after it.
    cursor = models.BigIntegerField(default=0)
    unknown_count = models.PositiveIntegerField(_("unknown identifiers"), default=0)
    unknown = models.JSONField(_("unknown identifiers (first ones)"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("tag job")
        verbose_name_plural = _("tag jobs")
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=Q(done__lte=models.F("total")), name="tag_job_done_within_total")]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.tag} (#{self.pk})"

    @property
    def from_list(self) -> bool:
        return self.segment_id is None


class TagJobMember(models.Model):
    """A member an uploaded list names, resolved when the job is created; the job works through them in key order."""

    job = models.ForeignKey(TagJob, on_delete=models.CASCADE, related_name="listed")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "member"], name="tag_job_member_once")]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.member_id}"


class AutoTagRule(models.Model):
    """Members of the segment carry the tag: added to new matches, taken from those that left — where the rule added it."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    tag = models.ForeignKey(Tag, verbose_name=_("tag"), on_delete=models.PROTECT, related_name="+")
    segment = models.ForeignKey(Segment, verbose_name=_("segment"), on_delete=models.PROTECT, related_name="+")
    active = models.BooleanField(_("active"), default=True)
    synced_at = models.DateTimeField(_("last kept in step"), null=True, blank=True)
    last_added = models.PositiveIntegerField(_("added last time"), default=0)
    last_removed = models.PositiveIntegerField(_("removed last time"), default=0)

    class Meta:
        verbose_name = _("auto-tag rule")
        verbose_name_plural = _("auto-tag rules")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AutoTagMember(models.Model):
    """A member the rule tagged: the only members the rule may untag."""

    rule = models.ForeignKey(AutoTagRule, on_delete=models.CASCADE, related_name="applied")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "member"], name="auto_tag_member_once")]

    def __str__(self) -> str:
        return f"{self.rule_id}:{self.member_id}"


class AttributeImport(models.Model):
    """An uploaded file of attribute values, applied by a background job; its rows' errors are kept for the job page."""

    original_name = models.CharField(_("file"), max_length=255)
    # The file's text until the job has read it: it names members, so it is not kept afterwards.
    content = models.TextField(blank=True)
    status = models.CharField(_("status"), max_length=10, choices=TagJobStatus.choices, default=TagJobStatus.QUEUED)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    members_updated = models.PositiveIntegerField(_("members updated"), default=0)
    # Row number, column and message of each refused row (at most the first thousand).
    errors = models.JSONField(_("errors"), default=list, blank=True)
    error_count = models.PositiveIntegerField(_("rows refused"), default=0)
    failure = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("attribute import")
        verbose_name_plural = _("attribute imports")
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.original_name
