"""The back office of webhooks: endpoints (secret shown once, rotation, test event, failing notice) and each
endpoint's delivery log with replay. Operations managers hold these permissions (apps/core/roles.py)."""

import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RelatedDropdownFilter
from unfold.decorators import display

from apps.core.admin_actions import AdminAction, AdminActionsMixin
from apps.core.admin_base import HistoryAdmin, ModelAdmin, TabularInline
from apps.core.outbox import EventType
from apps.core.service_admin import ServiceFormAdmin
from apps.webhooks import selectors, services
from apps.webhooks.models import DeliveryStatus, EndpointStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint

MAX_REPLAY = 1000
STATUS_LABELS = {
    DeliveryStatus.PENDING: "warning",
    DeliveryStatus.SENDING: "info",
    DeliveryStatus.DELIVERED: "success",
    DeliveryStatus.DEAD: "danger",
}


class EndpointForm(forms.ModelForm):
    url = forms.URLField(
        label=_("URL"), max_length=500, assume_scheme="https", help_text=_("HTTPS address that receives the events (POST).")
    )
    event_types = forms.MultipleChoiceField(label=_("event types"), choices=EventType.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "event_types", "contact_email", "is_active"]


def _deliveries_url(endpoint: WebhookEndpoint, **filters: Any) -> str:
    query = "&".join([f"endpoint__id__exact={endpoint.pk}", *(f"{key}={value}" for key, value in filters.items())])
    return f"{reverse('admin:webhooks_webhookdelivery_changelist')}?{query}"


def _rotate_secret(request: HttpRequest, endpoint: WebhookEndpoint, data: dict[str, Any]) -> Any:
    secret = services.endpoint_rotate_secret(endpoint=endpoint, actor=request.user)
    return _("The new secret of %(name)s is %(secret)s — copy it now, it is not shown again.") % {"name": endpoint.name, "secret": secret}


def _send_test(request: HttpRequest, endpoint: WebhookEndpoint, data: dict[str, Any]) -> Any:
    delivery = services.endpoint_send_test(endpoint=endpoint, actor=request.user)
    if delivery.status == DeliveryStatus.DELIVERED:
        return _("The test event was delivered: HTTP %(code)s in %(ms)s ms.") % {"code": delivery.response_code, "ms": delivery.duration_ms}
    answer = f"HTTP {delivery.response_code}" if delivery.response_code else delivery.error
    return _("The test event was not accepted (%(answer)s); it will be retried. See the delivery log.") % {"answer": answer}


def _mark_healthy(request: HttpRequest, endpoint: WebhookEndpoint, data: dict[str, Any]) -> Any:
    services.endpoint_mark_healthy(endpoint=endpoint, actor=request.user)
    return _("%(name)s is marked healthy.") % {"name": endpoint.name}


def _replay_dead(request: HttpRequest, endpoint: WebhookEndpoint, data: dict[str, Any]) -> Any:
    ids = list(endpoint.deliveries.filter(status=DeliveryStatus.DEAD).order_by("pk").values_list("pk", flat=True)[:MAX_REPLAY])
    count = services.deliveries_replay(delivery_ids=ids, actor=request.user)
    return ngettext("%(count)d delivery queued again.", "%(count)d deliveries queued again.", count) % {"count": count}


def _dead_summary(endpoint: WebhookEndpoint) -> str:
    dead = endpoint.deliveries.filter(status=DeliveryStatus.DEAD).count()
    return _("%(count)d failed deliveries of %(name)s will be sent again (at most %(max)d at once), with their original event ids.") % {
        "count": dead,
        "name": endpoint.name,
        "max": MAX_REPLAY,
    }


def _no_dead(endpoint: WebhookEndpoint) -> str | None:
    return (
        None if endpoint.deliveries.filter(status=DeliveryStatus.DEAD).exists() else str(_("No delivery of this endpoint failed for good."))
    )


def _not_failing(endpoint: WebhookEndpoint) -> str | None:
    return None if endpoint.status == EndpointStatus.FAILING else str(_("The endpoint is not failing."))


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(AdminActionsMixin, ServiceFormAdmin, HistoryAdmin, ModelAdmin):
    form = EndpointForm
    list_display = ["name", "url", "is_active", "status_display", "event_type_count", "failing_since", "delivery_log"]
    list_filter = ["is_active", ("status", ChoicesDropdownFilter)]
    list_filter_submit = True
    search_fields = ["name", "url"]
    readonly_fields = ["status", "failing_since", "last_failure", "secret_hint", "created_by", "api_client", "created_at", "delivery_log"]
    actions_detail = ["send_test", "rotate_secret", "replay_dead", "mark_healthy"]

    def get_fields(self, request: HttpRequest, obj: WebhookEndpoint | None = None) -> list[str]:
        fields = ["name", "url", "event_types", "contact_email", "is_active"]
        return fields if obj is None else [*fields, *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: WebhookEndpoint | None = None) -> list[str]:
        return [] if obj is None else list(self.readonly_fields)

    def has_delete_permission(self, request: HttpRequest, obj: WebhookEndpoint | None = None) -> bool:
        return False  # its deliveries are the log; an endpoint is switched off instead

    @display(description=_("status"), label={EndpointStatus.HEALTHY: "success", EndpointStatus.FAILING: "danger"})
    def status_display(self, obj: WebhookEndpoint) -> tuple[str, str]:
        return obj.status, obj.get_status_display()

    @display(description=_("event types"))
    def event_type_count(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.event_types)

    @display(description=_("secret"))
    def secret_hint(self, obj: WebhookEndpoint) -> str:
        return obj.secret_hint

    @display(description=_("delivery log"))
    def delivery_log(self, obj: WebhookEndpoint) -> str:
        return format_html('<a class="userops-link" href="{}" data-testid="delivery-log">{}</a>', _deliveries_url(obj), _("Delivery log"))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method == "GET":
            for endpoint in selectors.failing_endpoints():
                messages.error(
                    request,
                    _("Endpoint %(name)s is failing since %(since)s: %(failure)s")
                    % {"name": endpoint.name, "since": endpoint.failing_since or "", "failure": endpoint.last_failure},
                )
        return super().changelist_view(request, extra_context)

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        values = {
            "name": data["name"],
            "url": data["url"],
            "event_types": data["event_types"],
            "contact_email": data.get("contact_email", ""),
            "is_active": data.get("is_active", False),
        }
        if change:
            services.endpoint_update(endpoint=obj, actor=request.user, **values)
            return
        endpoint, secret = services.endpoint_create(actor=request.user, **values)
        obj.pk = endpoint.pk
        messages.warning(
            request,
            _("The signing secret of %(name)s is %(secret)s — copy it now, it is not shown again.")
            % {"name": endpoint.name, "secret": secret},
        )

    send_test = AdminAction(
        description=_("Send a test event"),
        url_path="send-test",
        permissions=["change"],
        icon="send",
        title=_("Send a test event"),
        explanation=_("A signed webhook.test event is posted to the endpoint now; the answer appears in the delivery log."),
        perform=_send_test,
    )
    rotate_secret = AdminAction(
        description=_("Rotate secret"),
        url_path="rotate-secret",
        permissions=["change"],
        icon="key",
        title=_("Rotate secret"),
        explanation=_("A new secret signs every request from now on; the receiver must be given it. The old one stops at once."),
        perform=_rotate_secret,
    )
    replay_dead = AdminAction(
        description=_("Replay failed deliveries"),
        url_path="replay-dead",
        permissions=["change"],
        icon="replay",
        title=_("Replay failed deliveries"),
        summary=_dead_summary,
        unusable=_no_dead,
        perform=_replay_dead,
    )
    mark_healthy = AdminAction(
        description=_("Mark healthy"),
        url_path="mark-healthy",
        permissions=["change"],
        icon="check_circle",
        title=_("Mark healthy"),
        explanation=_("Clears the failing notice once the receiver is fixed. A further failed delivery marks it failing again."),
        unusable=_not_failing,
        perform=_mark_healthy,
    )


class AttemptInline(TabularInline):
    model = WebhookAttempt
    fields = ["number", "started_at", "duration_ms", "response_code", "response_body", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _replay_one(request: HttpRequest, delivery: WebhookDelivery, data: dict[str, Any]) -> Any:
    services.deliveries_replay(delivery_ids=[delivery.pk], actor=request.user)
    return _("The event is queued to be sent again.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(AdminActionsMixin, ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "endpoint",
        "type",
        "member_id",
        "status_display",
        "attempts",
        "response_code",
        "duration_ms",
        "next_attempt_at",
    ]
    list_filter = [("endpoint", RelatedDropdownFilter), ("status", ChoicesDropdownFilter), ("type", ChoicesDropdownFilter)]
    list_filter_submit = True
    list_select_related = ["endpoint"]
    search_fields = ["=event_id", "=member_id"]
    extra_lookups = ["endpoint__id__exact", "status__exact"]
    ordering = ["-id"]
    inlines = [AttemptInline]
    actions = ["replay_selected"]
    actions_detail = ["replay"]
    readonly_fields = [
        "endpoint",
        "event_id",
        "type",
        "member_id",
        "occurred_at",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "last_attempt_at",
        "delivered_at",
        "response_code",
        "response_body",
        "error",
        "duration_ms",
        "replay_of",
        "replayed_by",
    ]
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: WebhookDelivery | None = None) -> bool:
        return False

    def has_replay_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("webhooks.change_webhookdelivery")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isdigit():
            return queryset.filter(member_id=int(term)), False
        try:
            return queryset.filter(event_id=uuid.UUID(term)), False
        except ValueError:
            return queryset.none(), False

    @display(description=_("status"), label=STATUS_LABELS)
    def status_display(self, obj: WebhookDelivery) -> tuple[str, str]:
        return obj.status, obj.get_status_display()

    replay = AdminAction(
        description=_("Replay"),
        url_path="replay",
        permissions=["replay"],
        icon="replay",
        title=_("Replay this delivery"),
        summary=lambda delivery: (
            _("The event %(event)s (%(type)s) is sent to %(endpoint)s again, with the same event id.")
            % {"event": delivery.event_id, "type": delivery.type, "endpoint": delivery.endpoint.name}
        ),
        select_related=["endpoint"],
        perform=_replay_one,
    )

    @admin.action(description=_("Replay the selected deliveries"), permissions=["replay"])
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> HttpResponse | None:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: MAX_REPLAY + 1])
        if len(ids) > MAX_REPLAY:
            messages.error(request, _("At most %(max)d deliveries can be replayed at once; narrow the filter.") % {"max": MAX_REPLAY})
            return None
        if request.POST.get("confirmed") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": _("Replay the selected deliveries"),
                "ids": ids,
                "count": len(ids),
                "opts": self.model._meta,
                "action": "replay_selected",
                "back_url": request.get_full_path(),
            }
            return TemplateResponse(request, "admin/webhooks/replay_confirm.html", context)
        count = services.deliveries_replay(delivery_ids=ids, actor=request.user)
        messages.success(
            request, ngettext("%(count)d delivery queued again.", "%(count)d deliveries queued again.", count) % {"count": count}
        )
        return None
