"""The feedback queue (each agent's open items, overdue first and highlighted) and surveys with their results."""

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RelatedDropdownFilter
from unfold.decorators import display

from apps.campaigns.models import Segment
from apps.core.admin_actions import AdminAction, AdminActionsMixin
from apps.core.admin_base import ModelAdmin, TabularInline, object_or_404
from apps.core.masking import SMALLEST_GROUP_SHOWN
from apps.core.models import User
from apps.core.service_admin import ServiceFormAdmin
from apps.feedback import selectors, services
from apps.feedback.models import (
    FeedbackCategory,
    FeedbackItem,
    FeedbackReply,
    FeedbackStatus,
    FeedbackStatusChange,
    Survey,
    SurveyQuestion,
    SurveyResponse,
    SurveyStatus,
)
from apps.members.admin import register_member_page_action


@admin.register(FeedbackCategory)
class FeedbackCategoryAdmin(ModelAdmin):
    list_display = ["name", "code", "sla_hours", "is_active"]
    ordering = ["name"]


class MineFilter(admin.SimpleListFilter):
    title = _("queue")
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("mine", _("My open items")), ("unassigned", _("Unassigned open items")), ("overdue", _("Overdue"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[FeedbackItem]) -> QuerySet[FeedbackItem]:
        unfinished = queryset.filter(status__in=[FeedbackStatus.OPEN, FeedbackStatus.IN_PROGRESS])
        if self.value() == "mine":
            return unfinished.filter(assignee=request.user)
        if self.value() == "unassigned":
            return unfinished.filter(assignee__isnull=True)
        if self.value() == "overdue":
            return queryset.filter(selectors.overdue_q())
        return queryset


class AssigneeFilter(admin.SimpleListFilter):
    title = _("assignee")
    parameter_name = "assignee"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        handlers = User.objects.filter(is_active=True, is_staff=True).order_by("username")
        return [(str(user.pk), user.get_username()) for user in handlers if user.has_perm("feedback.handle_feedbackitem")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[FeedbackItem]) -> QuerySet[FeedbackItem]:
        return queryset.filter(assignee_id=self.value()) if self.value() and self.value().isdigit() else queryset


class ItemHistoryInline(TabularInline):
    """Part of the item's page: whoever may see the item sees its replies and status changes, read-only."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("feedback.view_feedbackitem")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReplyInline(ItemHistoryInline):
    model = FeedbackReply
    fields = ["created_at", "author", "internal", "body"]
    readonly_fields = fields

    @display(description=_("author"))
    def author(self, reply: FeedbackReply) -> str:
        return str(_("Member")) if reply.from_member else reply.staff.get_username()


class StatusChangeInline(ItemHistoryInline):
    model = FeedbackStatusChange
    fields = ["changed_at", "from_status", "to_status", "staff", "note"]
    readonly_fields = fields


class FeedbackAddForm(forms.ModelForm):
    class Meta:
        model = FeedbackItem
        fields = ["member", "category", "kind", "channel", "priority", "subject", "body", "assignee"]


class ReplyForm(forms.Form):
    body = forms.CharField(label=_("Reply"), max_length=5000, widget=forms.Textarea(attrs={"rows": 4}))
    internal = forms.BooleanField(label=_("Internal note (staff only)"), required=False)


class ResolveForm(forms.Form):
    resolution = forms.CharField(label=_("Resolution (the member sees it)"), max_length=5000, widget=forms.Textarea(attrs={"rows": 4}))


class NoteForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}))


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(label=_("Assignee"), queryset=User.objects.filter(is_active=True, is_staff=True).order_by("username"))


def _closed(item: FeedbackItem) -> str | None:
    return _("This item is closed.") if item.status == FeedbackStatus.CLOSED else None


def _unless(*statuses: str) -> Any:
    def check(item: FeedbackItem) -> str | None:
        if item.status in statuses:
            return None
        return _("Not possible while the item is %(status)s.") % {"status": item.get_status_display().lower()}

    return check


@admin.register(FeedbackItem)
class FeedbackItemAdmin(ServiceFormAdmin, AdminActionsMixin, ModelAdmin):
    list_display = ["number", "subject", "member", "category", "priority", "status", "assignee", "due", "satisfaction"]
    list_filter = [
        MineFilter,
        ("status", ChoicesDropdownFilter),
        ("category", RelatedDropdownFilter),
        ("priority", ChoicesDropdownFilter),
        AssigneeFilter,
    ]
    list_select_related = ["member", "category", "assignee"]
    search_fields = ["subject"]
    ordering = ["-id"]
    autocomplete_fields = ["member"]
    inlines = [ReplyInline, StatusChangeInline]
    actions_detail = ["take", "assign", "reply", "resolve", "reopen", "close"]

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> type[forms.BaseForm]:
        if obj is None:
            kwargs["form"] = FeedbackAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return list(FeedbackAddForm.Meta.fields)
        return [
            "member", "category", "kind", "channel", "priority", "subject", "body", "status", "assignee",
            "created_at", "due_at", "escalated_at", "resolved_at", "closed_at", "satisfaction", "satisfaction_comment",
        ]  # fmt: skip

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else self.get_fields(request, obj)

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return self.inlines if obj is not None else []

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {**super().get_changeform_initial_data(request), "channel": "phone"}

    def save_model(self, request: HttpRequest, obj: FeedbackItem, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        created = services.feedback_create(
            member=data["member"],
            category=data["category"],
            kind=data["kind"],
            channel=data["channel"],
            priority=data["priority"],
            subject=data["subject"],
            body=data["body"],
            assignee=data.get("assignee"),
            staff=request.user,
        )
        obj.pk = created.pk

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        """The service wrote everything."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_handle_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("feedback.handle_feedbackitem")

    @display(description="#", ordering="id")
    def number(self, item: FeedbackItem) -> int:
        return item.pk

    @display(description=_("due"), ordering="due_at")
    def due(self, item: FeedbackItem) -> str:
        local = timezone.localtime(item.due_at).strftime("%Y-%m-%d %H:%M")
        if item.is_overdue:
            return format_html('<span class="font-semibold text-red-600" data-overdue="1">{} · {}</span>', local, _("overdue"))
        return local

    take = AdminAction(
        description=_("Take"),
        url_path="take",
        permissions=["handle"],
        icon="front_hand",
        title=_("Take this item"),
        explanation=_("It becomes yours (if nobody has it) and in progress."),
        perform=lambda request, item, data: (services.feedback_start(item=item, staff=request.user), _("You are handling it."))[1],
        unusable=_unless(FeedbackStatus.OPEN),
    )
    assign = AdminAction(
        description=_("Assign"),
        url_path="assign",
        permissions=["handle"],
        icon="person_add",
        title=_("Assign to an agent"),
        form_class=AssignForm,
        perform=lambda request, item, data: (
            services.feedback_assign(item=item, assignee=data["assignee"], staff=request.user),
            _("Assigned."),
        )[1],
        unusable=_closed,
    )
    reply = AdminAction(
        description=_("Reply"),
        url_path="reply",
        permissions=["handle"],
        icon="reply",
        title=_("Reply to the member or add an internal note"),
        form_class=ReplyForm,
        perform=lambda request, item, data: (
            services.feedback_reply(item=item, staff=request.user, body=data["body"], internal=data["internal"]),
            _("Reply saved."),
        )[1],
        unusable=_closed,
    )
    resolve = AdminAction(
        description=_("Resolve"),
        url_path="resolve",
        permissions=["handle"],
        icon="task_alt",
        title=_("Resolve"),
        explanation=_("The member sees the resolution and may answer, which reopens the item."),
        form_class=ResolveForm,
        perform=lambda request, item, data: (
            services.feedback_resolve(item=item, staff=request.user, resolution=data["resolution"]),
            _("Resolved."),
        )[1],
        unusable=_unless(FeedbackStatus.OPEN, FeedbackStatus.IN_PROGRESS),
    )
    reopen = AdminAction(
        description=_("Reopen"),
        url_path="reopen",
        permissions=["handle"],
        icon="undo",
        title=_("Reopen"),
        form_class=NoteForm,
        perform=lambda request, item, data: (
            services.feedback_reopen(item=item, staff=request.user, reason=data["reason"]),
            _("Reopened."),
        )[1],
        unusable=_unless(FeedbackStatus.RESOLVED),
    )
    close = AdminAction(
        description=_("Close"),
        url_path="close",
        permissions=["handle"],
        icon="lock",
        title=_("Close"),
        explanation=_("Closed for good; the member is asked how satisfied they are."),
        perform=lambda request, item, data: (services.feedback_close(item=item, staff=request.user), _("Closed."))[1],
        unusable=_unless(FeedbackStatus.RESOLVED),
    )


class QuestionInline(TabularInline):
    model = SurveyQuestion
    extra = 0
    max_num = 5
    fields = ["position", "kind", "text", "choices", "required"]


class SurveyForm(forms.ModelForm):
    class Meta:
        model = Survey
        fields = ["code", "title", "intro", "nps_question", "link_valid_days", "message_template_code"]


@admin.register(Survey)
class SurveyAdmin(ServiceFormAdmin, AdminActionsMixin, ModelAdmin):
    form = SurveyForm
    list_display = ["title", "code", "status", "message_template_code", "results_link"]
    list_filter = [("status", ChoicesDropdownFilter)]
    inlines = [QuestionInline]
    actions_detail = ["open_survey", "close_survey"]

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        services.survey_check(survey=form.instance, questions=list(form.instance.questions.order_by("position")))

    def has_change_permission(self, request: HttpRequest, obj: Survey | None = None) -> bool:
        return super().has_change_permission(request, obj) and (obj is None or obj.status == SurveyStatus.DRAFT)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_manage_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("feedback.change_survey")

    @display(description=_("results"))
    def results_link(self, survey: Survey) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:feedback_survey_results", args=[survey.pk]), _("Results"))

    open_survey = AdminAction(
        description=_("Open for answers"),
        url_path="open",
        permissions=["manage"],
        icon="play_arrow",
        title=_("Open the survey for answers"),
        explanation=_("Its questions are then fixed; a campaign sending its message template sends each member their link."),
        perform=lambda request, survey, data: (services.survey_open(survey=survey), _("The survey is open."))[1],
        unusable=lambda survey: None if survey.status == SurveyStatus.DRAFT else _("Only a draft survey can be opened."),
    )
    close_survey = AdminAction(
        description=_("Close"),
        url_path="close",
        permissions=["manage"],
        icon="stop",
        title=_("Close the survey"),
        perform=lambda request, survey, data: (services.survey_close(survey=survey), _("The survey is closed."))[1],
        unusable=lambda survey: None if survey.status == SurveyStatus.OPEN else _("Only an open survey can be closed."),
    )

    def get_urls(self) -> list[Any]:
        results = self.admin_site.admin_view(self.results_view)
        return [path("<path:object_id>/results/", results, name="feedback_survey_results"), *super().get_urls()]

    def results_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not request.user.has_perm("feedback.view_survey_results"):
            raise PermissionDenied
        survey = object_or_404(Survey.objects.all(), object_id)
        responses = SurveyResponse.objects.filter(survey=survey)
        segments = Segment.objects.order_by("name")
        segment = segments.filter(pk=request.GET["segment"]).first() if request.GET.get("segment", "").isdigit() else None
        # Staff who may not see personal data read no group small enough to single a member out (a one-member
        # segment, or its complement beside the overall figure), and no free text, which may name the member.
        can_see_personal = request.user.has_perm("members.view_member_pii")
        smallest = 1 if can_see_personal else SMALLEST_GROUP_SHOWN
        segment_nps = selectors.nps_in_segment(responses=responses, segment=segment) if segment else None
        segment_too_small = segment_nps is not None and min(side.responses for side in segment_nps) < smallest
        context = {
            **self.admin_site.each_context(request),
            "title": _("Results: %(survey)s") % {"survey": survey.title},
            "opts": self.model._meta,
            "original": survey,
            "survey": survey,
            "overall": selectors.nps_of(responses),
            "breakdowns": [
                (b.label, [group for group in selectors.nps_by(responses=responses, breakdown=b) if group.nps.responses >= smallest])
                for b in selectors.BREAKDOWNS
            ],
            "smallest_group": smallest,
            "segments": segments,
            "segment": segment,
            "segment_nps": None if segment_too_small else segment_nps,
            "segment_too_small": segment_too_small,
            "questions": selectors.question_results(survey=survey),
            "texts": selectors.text_answers(survey=survey) if can_see_personal else None,
        }
        return TemplateResponse(request, "admin/feedback/survey_results.html", context)


@admin.register(SurveyResponse)
class SurveyResponseAdmin(ModelAdmin):
    list_display = ["survey", "member", "nps_score", "submitted_at"]
    list_filter = [("survey", RelatedDropdownFilter)]
    list_select_related = ["survey", "member"]
    ordering = ["-id"]
    readonly_fields = ["survey", "member", "nps_score", "answers", "submitted_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


register_member_page_action(
    group="service",
    title=_("New feedback"),
    explanation=_("Records a complaint, suggestion or question the member gave by phone or in a store; it joins the agents' queue."),
    permission="feedback.add_feedbackitem",
    url=lambda member: reverse("admin:feedback_feedbackitem_add") + f"?member={member.pk}",
)
