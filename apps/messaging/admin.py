import json
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display

from apps.core.admin_base import HistoryAdmin, ModelAdmin
from apps.core.service_admin import ServiceFormAdmin
from apps.messaging import services
from apps.messaging.models import Message, MessageState, MessageTemplate
from apps.messaging.providers import provider_statuses

LINK_PART_HIDDEN = "********"


class ProviderStatusMixin:
    """Shows above the list which channels can send and which are not configured."""

    list_before_template = "messaging/provider_status.html"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, {**(extra_context or {}), "provider_statuses": provider_statuses()})  # type: ignore[misc]


@admin.register(MessageTemplate)
class MessageTemplateAdmin(ProviderStatusMixin, ServiceFormAdmin, HistoryAdmin, TranslationAdmin, ModelAdmin):
    list_display = ["code", "channel", "subject", "is_active", "updated_at"]
    list_filter = [("channel", ChoicesDropdownFilter), "is_active"]
    search_fields = ["code", "subject", "body"]

    def save_model(self, request: HttpRequest, obj: MessageTemplate, form: forms.ModelForm, change: bool) -> None:
        services.message_template_save(template=obj)


class OpenedFilter(admin.SimpleListFilter):
    title = _("opened")
    parameter_name = "opened"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Opened")), ("no", _("Not opened"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Message]) -> QuerySet[Message]:
        if self.value() in ("yes", "no"):
            return queryset.filter(opened_at__isnull=self.value() == "no")
        return queryset


@admin.register(Message)
class MessageAdmin(ProviderStatusMixin, ModelAdmin):
    """The outbox: read only; messages are written by the services that queue and send them."""

    list_display = [
        "id",
        "member",
        "channel",
        "purpose",
        "template_code",
        "state_badge",
        "attempts",
        "provider",
        "provider_code",
        "next_attempt_at",
        "sent_at",
        "opened_at",
        "click_count",
    ]
    list_filter = [
        ("state", ChoicesDropdownFilter),
        ("channel", ChoicesDropdownFilter),
        ("purpose", ChoicesDropdownFilter),
        "provider",
        OpenedFilter,
    ]
    search_fields = ["template_code", "dedupe_key", "member__name", "provider_ref"]
    list_select_related = ["member"]
    # The unsubscribe link withdraws the member's consent for whoever opens it, and roles that read the outbox may not
    # withdraw consent: its token is shown nowhere, neither on its own nor inside the text it was rendered into.
    exclude = ["unsubscribe_token", "subject", "body", "provider_params"]
    readonly_fields = ["subject_shown", "body_shown", "provider_params_shown"]

    @display(
        description=_("state"),
        label={MessageState.QUEUED: "info", MessageState.SENT: "primary", MessageState.DELIVERED: "success", MessageState.FAILED: "danger"},
    )
    def state_badge(self, obj: Message) -> tuple[str, str]:
        return obj.state, obj.get_state_display()

    @staticmethod
    def _without_unsubscribe_token(obj: Message, text: str) -> str:
        return text.replace(obj.unsubscribe_token, LINK_PART_HIDDEN) if obj.unsubscribe_token else text

    @display(description=_("subject"))
    def subject_shown(self, obj: Message) -> str:
        return self._without_unsubscribe_token(obj, obj.subject)

    @display(description=_("body"))
    def body_shown(self, obj: Message) -> str:
        return self._without_unsubscribe_token(obj, obj.body)

    @display(description=_("provider template parameters"))
    def provider_params_shown(self, obj: Message) -> str:
        if obj.provider_params is None:
            return "-"
        return self._without_unsubscribe_token(obj, json.dumps(obj.provider_params, ensure_ascii=False))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False
