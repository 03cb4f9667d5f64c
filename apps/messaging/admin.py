from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin
from simple_history.admin import SimpleHistoryAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display

from apps.core.admin_base import ModelAdmin
from apps.core.admin_pagination import EstimatedCountPaginator
from apps.core.errors import ApplicationError
from apps.messaging import services
from apps.messaging.models import Message, MessageState, MessageTemplate


class MessageTemplateForm(forms.ModelForm):
    """A refused template is an error on its field, not a message after a save that did not happen."""

    class Meta:
        model = MessageTemplate
        fields = ["code", "channel", "subject", "body", "is_active"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        candidate = MessageTemplate(**{name: value for name, value in cleaned.items() if name.startswith(("subject", "body"))})
        try:
            services.message_template_check(template=candidate)
        except ApplicationError as exc:
            field = next(iter(exc.fields), None)
            self.add_error(field if field in self.fields else None, exc.message)
        return cleaned


@admin.register(MessageTemplate)
class MessageTemplateAdmin(SimpleHistoryAdmin, TranslationAdmin, ModelAdmin):
    form = MessageTemplateForm
    list_display = ["code", "channel", "subject", "is_active", "updated_at"]
    list_filter = [("channel", ChoicesDropdownFilter), "is_active"]
    search_fields = ["code", "subject", "body"]

    def save_model(self, request: HttpRequest, obj: MessageTemplate, form: forms.ModelForm, change: bool) -> None:
        try:
            services.message_template_save(template=obj)
        except ApplicationError as exc:
            messages.error(request, exc.message)


@admin.register(Message)
class MessageAdmin(ModelAdmin):
    """The outbox: read only; messages are written by the services that queue and send them."""

    list_display = ["id", "member", "channel", "purpose", "template_code", "state_badge", "attempts", "next_attempt_at", "sent_at"]
    list_filter = [("state", ChoicesDropdownFilter), ("channel", ChoicesDropdownFilter), ("purpose", ChoicesDropdownFilter)]
    search_fields = ["template_code", "dedupe_key", "member__name"]
    list_select_related = ["member"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    exclude = ["unsubscribe_token"]

    @display(
        description=_("state"),
        label={MessageState.QUEUED: "info", MessageState.SENT: "primary", MessageState.DELIVERED: "success", MessageState.FAILED: "danger"},
    )
    def state_badge(self, obj: Message) -> tuple[str, str]:
        return obj.state, obj.get_state_display()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False
