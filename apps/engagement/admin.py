from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RelatedDropdownFilter
from unfold.decorators import display

from apps.core.admin_actions import AdminAction, AdminActionsMixin
from apps.core.admin_base import HistoryAdmin, ModelAdmin
from apps.core.service_admin import ServiceFormAdmin
from apps.engagement import selectors, services
from apps.engagement.models import SignIn, Task, TaskCompletion, TaskProgress, TaskStatus
from apps.engagement.windows import window_text
from apps.members.admin import register_member_page_section
from apps.members.models import Member


def _transition(service: Any, message: Any) -> Any:
    def perform(request: HttpRequest, task: Task, data: dict[str, Any]) -> Any:
        service(task=task)
        return message

    return perform


@admin.register(Task)
class TaskAdmin(AdminActionsMixin, ServiceFormAdmin, HistoryAdmin, TranslationAdmin, ModelAdmin):
    list_display = ["title", "code", "goal", "activity_kind", "target", "window", "status", "completions_count"]
    list_filter = [("status", ChoicesDropdownFilter), ("goal", ChoicesDropdownFilter), ("window", ChoicesDropdownFilter)]
    search_fields = ["title", "code"]
    filter_horizontal = ["tiers"]
    readonly_fields = ["status", "counts"]
    actions_detail = ["pause", "activate"]
    fieldsets = [
        (_("Task"), {"fields": ["code", "title", "description", "status", "counts"]}),
        (_("Goal"), {"fields": ["goal", "activity_kind", "target"]}),
        (_("Window"), {"fields": ["window", "starts_on", "ends_on"]}),
        (_("Who may take part"), {"fields": ["tiers", "segment"]}),
        (_("Reward"), {"fields": ["reward_points", "reward_growth", "reward_benefit", "reward_badge"]}),
    ]

    def save_model(self, request: HttpRequest, obj: Task, form: forms.ModelForm, change: bool) -> None:
        services.task_save(task=obj)

    def has_delete_permission(self, request: HttpRequest, obj: Task | None = None) -> bool:
        return False

    def has_manage_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("engagement.change_task")

    @display(description=_("members"))
    def counts(self, obj: Task) -> SafeString:
        if not obj.pk:
            return SafeString("")
        return render_to_string("admin/engagement/task_counts.html", {"counts": selectors.task_counts(task=obj), "task": obj})

    @display(description=_("completions"))
    def completions_count(self, obj: Task) -> int:
        return obj.completions.count()

    pause = AdminAction(
        description=_("Pause"),
        url_path="pause",
        permissions=["manage"],
        icon="pause",
        title=_("Pause task"),
        explanation=_("Progress stops counting and no reward is paid until the task is active again; progress so far is kept."),
        perform=_transition(services.task_pause, _("The task is paused.")),
        unusable=lambda task: None if task.status == TaskStatus.ACTIVE else _("The task is not active."),
    )
    activate = AdminAction(
        description=_("Activate"),
        url_path="activate",
        permissions=["manage"],
        icon="play_arrow",
        title=_("Activate task"),
        explanation=_("Activities from now on count towards the task again."),
        perform=_transition(services.task_activate, _("The task is active.")),
        unusable=lambda task: None if task.status == TaskStatus.PAUSED else _("The task is not paused."),
    )


class ReadOnlyAdmin(ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TaskWindowAdmin(ReadOnlyAdmin):
    @display(description=_("window"), ordering="window_start")
    def window(self, obj: TaskProgress | TaskCompletion) -> str:
        return window_text(obj.window_start, None)


@admin.register(TaskProgress)
class TaskProgressAdmin(TaskWindowAdmin):
    list_display = ["task", "member", "window", "value", "best_streak", "last_day", "completed_at"]
    list_filter = [("task", RelatedDropdownFilter)]
    list_select_related = ["task", "member"]
    raw_id_fields = ["member"]
    ordering = ["-id"]


@admin.register(TaskCompletion)
class TaskCompletionAdmin(TaskWindowAdmin):
    list_display = ["task", "member", "window", "completed_at", "points", "growth", "benefit", "badge"]
    list_filter = [("task", RelatedDropdownFilter)]
    list_select_related = ["task", "member", "benefit", "badge"]
    raw_id_fields = ["member"]
    ordering = ["-id"]


@admin.register(SignIn)
class SignInAdmin(ReadOnlyAdmin):
    list_display = ["member", "day", "streak", "signed_in_at"]
    list_select_related = ["member"]
    raw_id_fields = ["member"]
    ordering = ["-id"]


def member_engagement_section(member: Member) -> SafeString:
    return render_to_string(
        "admin/engagement/member_engagement.html",
        {
            "badges": selectors.member_badges(member=member)[:50],
            "tasks": selectors.member_tasks(member=member, include_paused=True),
            "completions": selectors.member_task_completions(member=member)[:20],
            "streak": selectors.current_streak(member_id=member.pk, today=selectors.local_day_now()),
            "longest_streak": selectors.longest_streak(member_id=member.pk),
        },
    )


register_member_page_section(
    name="engagement", title=_("Badges and tasks"), permission="engagement.view_taskprogress", render=member_engagement_section
)
