from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import ChoicesDropdownFilter, FieldTextFilter, RangeDateTimeFilter, RelatedDropdownFilter
from unfold.decorators import display
from unfold.forms import AdminPasswordChangeForm, AuthenticationForm, UserChangeForm, UserCreationForm

from apps.core import services
from apps.core.admin_actions import AdminAction, AdminActionsMixin
from apps.core.admin_base import ModelAdmin
from apps.core.models import AccessLogEntry, ApiClient, ApiScope, FailedTask, FailedTaskState, User
from apps.core.reasons import CodedReason
from apps.core.service_admin import ServiceFormAdmin

admin.site.unregister(Group)


class CodedReasonAdminMixin:
    """Shows a row's reason in the reader's language in place of its stored text, code and parameters."""

    @display(description=_("reason"))
    def reason_text(self, obj: CodedReason) -> str:
        return obj.reason_text

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*super().get_readonly_fields(request, obj), "reason_text"]  # type: ignore[misc]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        text_field = self.model.REASON_TEXT_FIELD  # type: ignore[attr-defined]
        fields = []
        for name in super().get_fields(request, obj):  # type: ignore[misc]
            if name in ("reason_code", "reason_params", "reason_text"):
                continue
            fields.append("reason_text" if name == text_field else name)
        return fields


class StaffLoginForm(AuthenticationForm):
    """The back-office sign-in, saying plainly when repeated failures have locked the account or the address."""

    def clean(self) -> dict:
        username = self.cleaned_data.get("username") or ""
        if username and services.staff_login_locked(username=username, ip=services.client_ip(self.request)):
            minutes = int(settings.USEROPS["LOGIN_LOCKOUT"].total_seconds() // 60)
            raise forms.ValidationError(
                _(
                    "Too many failed sign-ins for this account or from this address. Try again in %(minutes)d minutes, "
                    "or ask an administrator to unlock it."
                )
                % {"minutes": minutes},
                code="locked",
            )
        return super().clean()


admin.site.login_form = StaffLoginForm


def _unlock_explanation(user: User) -> Any:
    if services.staff_login_locked(username=user.get_username(), ip=None):
        return _("Sign-in is locked after repeated wrong passwords.")
    return _("Sign-in is not locked; unlocking also forgets earlier failed attempts.")


def _unlock_sign_in(request: HttpRequest, user: User, data: dict[str, Any]) -> Any:
    services.staff_login_unlock(username=user.get_username(), actor=request.user, request=request)
    return _("%(username)s can sign in again.") % {"username": user.get_username()}


@admin.register(User)
class UserAdmin(AdminActionsMixin, BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ["username", "email", "first_name", "last_name", "is_active", "language"]
    list_filter = ["is_active", "is_superuser", "groups"]
    fieldsets = (*BaseUserAdmin.fieldsets, (_("Back office"), {"fields": ["language"]}))
    actions_detail = ["unlock_sign_in"]

    def has_unlock_sign_in_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.is_superuser

    unlock_sign_in = AdminAction(
        description=_("Unlock sign-in"),
        url_path="unlock-sign-in",
        permissions=["unlock_sign_in"],
        icon="lock_open",
        title=_("Unlock sign-in"),
        explanation=_unlock_explanation,
        perform=_unlock_sign_in,
    )


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass


class ApiClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(label=_("scopes"), choices=ApiScope.choices, widget=forms.CheckboxSelectMultiple, required=False)

    class Meta:
        model = ApiClient
        fields = ["name", "scopes", "is_active"]


def _rotate_key(request: HttpRequest, client: ApiClient, data: dict[str, Any]) -> Any:
    raw_key = services.api_client_rotate_key(client=client)
    return _("The new key of %(name)s is %(key)s — copy it now, it is not shown again.") % {"name": client.name, "key": raw_key}


@admin.register(ApiClient)
class ApiClientAdmin(AdminActionsMixin, ServiceFormAdmin, ModelAdmin):
    form = ApiClientForm
    list_display = ["name", "key_prefix", "scopes", "is_active", "last_used_at", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "key_prefix"]
    readonly_fields = ["key_prefix", "last_used_at", "created_at"]
    fields = ["name", "scopes", "is_active", "key_prefix", "last_used_at", "created_at"]
    actions_detail = ["rotate_key"]

    def save_model(self, request: HttpRequest, obj: ApiClient, form, change: bool) -> None:
        if change:
            services.api_client_update(client=obj, name=obj.name, scopes=obj.scopes, is_active=obj.is_active)
            return
        client, raw_key = services.api_client_create(name=obj.name, scopes=obj.scopes)
        obj.pk = client.pk
        messages.warning(
            request, _("The key of %(name)s is %(key)s — copy it now, it is not shown again.") % {"name": client.name, "key": raw_key}
        )

    rotate_key = AdminAction(
        description=_("Rotate key"),
        url_path="rotate-key",
        permissions=["change"],
        title=_("Rotate key"),
        explanation=_("A new key replaces the current one, which stops working at once."),
        perform=_rotate_key,
    )


@admin.register(AccessLogEntry)
class AccessLogEntryAdmin(ModelAdmin):
    """Read-only, for auditors: who viewed members' full details or exported data, from where, when."""

    list_display = ["at", "username", "client", "action", "object_type", "object_id", "row_count", "ip", "detail", "object_ids"]
    list_filter = [
        ("action", ChoicesDropdownFilter),
        ("user", RelatedDropdownFilter),
        ("object_type", FieldTextFilter),
        ("object_id", FieldTextFilter),
        ("at", RangeDateTimeFilter),
    ]
    list_filter_submit = True
    list_select_related = ["user", "client"]
    search_fields = ["username", "object_id", "ip"]
    # Entries are appended as they happen: the key orders them by time and its index serves a page without a sort. No
    # date hierarchy: it reads every entry's date to draw its links; the date range filter does the same job.
    ordering = ["-id"]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        # An object ID also finds the list pages that showed that object among others.
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term.isdigit():
            results |= queryset.filter(object_ids__regex=rf"(^|,){term}(,|$)")
        return results, may_have_duplicates

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AccessLogEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AccessLogEntry | None = None) -> bool:
        return False


def _queue_again(request: HttpRequest, failed_task: FailedTask, data: dict[str, Any]) -> Any:
    services.failed_task_retry(failed_task=failed_task, actor=request.user)
    return _("The task was queued again.")


@admin.register(FailedTask)
class FailedTaskAdmin(AdminActionsMixin, ModelAdmin):
    """Background tasks that failed after their last retry; staff queue them again once the cause is fixed."""

    list_display = ["failed_at", "task_name", "state_display", "retries", "short_error", "retried_at", "retried_by"]
    list_filter = [("state", ChoicesDropdownFilter), ("task_name", FieldTextFilter)]
    list_filter_submit = True
    search_fields = ["task_name", "task_id"]
    ordering = ["-failed_at", "-id"]
    readonly_fields = [
        "task_name",
        "task_id",
        "args",
        "kwargs",
        "retries",
        "exception",
        "traceback",
        "state",
        "failed_at",
        "retried_at",
        "retried_by",
        "retry_task_id",
    ]
    actions = ["retry_selected", "dismiss_selected"]
    actions_detail = ["retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: FailedTask | None = None) -> bool:
        return False

    def has_retry_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("core.change_failedtask")

    @display(
        description=_("state"),
        label={FailedTaskState.FAILED: "danger", FailedTaskState.RETRIED: "info", FailedTaskState.DISMISSED: "warning"},
    )
    def state_display(self, obj: FailedTask) -> tuple[str, str]:
        return obj.state, obj.get_state_display()

    @display(description=_("error"))
    def short_error(self, obj: FailedTask) -> str:
        return obj.exception[:120]

    retry = AdminAction(
        description=_("Queue again"),
        url_path="retry",
        permissions=["retry"],
        icon="replay",
        title=_("Queue again"),
        explanation=_("The task runs again with the same arguments."),
        perform=_queue_again,
    )

    @admin.action(description=_("Queue the selected tasks again"), permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[FailedTask]) -> None:
        queued = 0
        for failed in queryset.filter(state=FailedTaskState.FAILED).order_by("pk"):
            services.failed_task_retry(failed_task=failed, actor=request.user)
            queued += 1
        messages.success(request, _("%(count)d tasks queued again.") % {"count": queued})

    @admin.action(description=_("Dismiss the selected tasks"), permissions=["retry"])
    def dismiss_selected(self, request: HttpRequest, queryset: QuerySet[FailedTask]) -> None:
        dismissed = services.failed_tasks_dismiss(ids=list(queryset.values_list("pk", flat=True)))
        messages.success(request, _("%(count)d tasks dismissed.") % {"count": dismissed})
