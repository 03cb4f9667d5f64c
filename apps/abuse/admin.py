"""The abuse-control back office: velocity limits, the blocklist (with bulk add), the suspicious-activity page with
its one-click block, and the blocklist section of the member page."""

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action, display

from apps.abuse import selectors, services
from apps.abuse.config import active_blocks_q
from apps.abuse.models import BlockEntry, BlockKind, Scope, VelocityLimit
from apps.core.admin_actions import ACTION_TEMPLATE, AdminAction, AdminActionsMixin, Subject
from apps.core.admin_base import HistoryAdmin, ModelAdmin
from apps.core.errors import ApplicationError
from apps.core.service_admin import ServiceFormAdmin, add_service_error
from apps.members.admin import register_member_page_section
from apps.members.models import Member

VIEW_LIMITS = "abuse.view_velocitylimit"
ADD_BLOCK = "abuse.add_blockentry"

DURATIONS = {"1": timedelta(days=1), "7": timedelta(days=7), "30": timedelta(days=30), "": None}


class BlockForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200)
    duration = forms.ChoiceField(
        label=_("Block for"),
        choices=[("1", _("1 day")), ("7", _("7 days")), ("30", _("30 days")), ("", _("Until lifted"))],
        required=False,
        initial="7",
    )


class BulkBlockForm(forms.Form):
    kind = forms.ChoiceField(label=_("What to block"), choices=BlockKind.choices)
    values = forms.CharField(
        label=_("Values"),
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text=_("One per line: member IDs, device IDs, or addresses and networks (CIDR such as 203.0.113.0/24)."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=200)
    until = forms.DateTimeField(label=_("Blocked until"), required=False, help_text=_("Empty: until lifted. Format: 2026-12-31 23:59"))


@admin.register(VelocityLimit)
class VelocityLimitAdmin(ServiceFormAdmin, HistoryAdmin, ModelAdmin):
    list_display = ["name", "scope", "kind_shown", "max_events", "window_minutes", "active", "updated_at"]
    list_filter = ["scope", "active"]
    search_fields = ["name"]
    fields = ["name", "scope", "kind", "max_events", "window_minutes", "active"]
    actions_list = ["suspicious"]

    @display(description=_("activity kind"))
    def kind_shown(self, obj: VelocityLimit) -> str:
        return obj.get_kind_display() if obj.kind else gettext("Any kind")

    def save_model(self, request: HttpRequest, obj: VelocityLimit, form: forms.ModelForm, change: bool) -> None:
        services.limit_save(limit=obj, actor=request.user)

    def has_delete_permission(self, request: HttpRequest, obj: VelocityLimit | None = None) -> bool:
        return False  # switched off, never deleted: the history explains past holds

    @action(description=_("Suspicious activity"), url_path="suspicious-activity", permissions=["view"], icon="policy")
    def suspicious(self, request: HttpRequest) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:abuse_suspicious"))

    def get_urls(self) -> list[Any]:
        return [
            path("suspicious/", self.admin_site.admin_view(self.suspicious_view), name="abuse_suspicious"),
            path("suspicious/block/", self.admin_site.admin_view(self.block_view), name="abuse_suspicious_block"),
            *super().get_urls(),
        ]

    def suspicious_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(VIEW_LIMITS):
            raise PermissionDenied
        period = request.GET.get("period", "hour")
        if period not in selectors.PERIODS:
            period = "hour"
        rows = selectors.suspicious_values(period=period)
        can_block = request.user.has_perm(ADD_BLOCK)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Suspicious activity"),
            "opts": self.model._meta,
            "period": period,
            "periods": [("hour", _("Last hour")), ("day", _("Last day"))],
            "rows": [
                {
                    **vars(row),
                    "member_url": reverse("admin:members_member_change", args=[row.value]) if row.scope == Scope.MEMBER else "",
                    "block_url": (
                        reverse("admin:abuse_suspicious_block")
                        + "?"
                        + urlencode({"scope": row.scope, "value": row.value, "limit": row.limit_id, "period": period})
                    )
                    if can_block and not row.blocked
                    else "",
                }
                for row in rows
            ],
            "close_percent": int(selectors.CLOSE_SHARE * 100),
        }
        return TemplateResponse(request, "admin/abuse/suspicious.html", context)

    def block_view(self, request: HttpRequest) -> HttpResponse:
        """GET shows what would be blocked and asks; the POST (CSRF, Confirm) blocks it."""
        if not request.user.has_perm(ADD_BLOCK):
            raise PermissionDenied
        scope, value = request.GET.get("scope", ""), request.GET.get("value", "").strip()
        if scope not in Scope.values or not value:
            raise Http404
        limit = VelocityLimit.objects.filter(pk=request.GET.get("limit") if str(request.GET.get("limit", "")).isdigit() else None).first()
        member = None
        if scope == Scope.MEMBER:
            if not value.isdigit():
                raise Http404
            member = get_object_or_404(Member, pk=value)
        back = reverse("admin:abuse_suspicious") + "?" + urlencode({"period": request.GET.get("period", "hour")})
        initial = {"reason": gettext("Over the velocity limit “%(name)s”") % {"name": limit.name} if limit else "", "duration": "7"}
        form = BlockForm(request.POST if request.method == "POST" else None, initial=initial)
        if request.method == "POST" and form.is_valid():
            duration = DURATIONS.get(form.cleaned_data["duration"] or "")
            kind = {Scope.MEMBER: BlockKind.MEMBER, Scope.DEVICE: BlockKind.DEVICE, Scope.ADDRESS: BlockKind.ADDRESS}[Scope(scope)]
            try:
                entry = services.block_add(
                    kind=kind,
                    member=member,
                    device_id=value if kind == BlockKind.DEVICE else "",
                    network=value if kind == BlockKind.ADDRESS else "",
                    reason=form.cleaned_data["reason"],
                    until=timezone.now() + duration if duration else None,
                    actor=request.user,
                )
            except ApplicationError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, gettext("%(target)s is on the blocklist: its awards are held for review.") % {"target": entry})
                return HttpResponseRedirect(back)
        label = {Scope.MEMBER: _("member %(value)s"), Scope.DEVICE: _("device %(value)s"), Scope.ADDRESS: _("address %(value)s")}
        context = {
            **self.admin_site.each_context(request),
            "title": _("Block this %(scope)s") % {"scope": Scope(scope).label.lower()},
            "subject": Subject(name=str(label[Scope(scope)] % {"value": value}), url=back),
            "explanation": _("Every award for its activity is held for review until the block ends; nothing already paid changes."),
            "confirmation": None,
            "unusable": None,
            "form": form,
            "opts": self.model._meta,
            "original": None,
            "change_url": back,
        }
        return TemplateResponse(request, ACTION_TEMPLATE, context)


class InForceFilter(admin.SimpleListFilter):
    title = _("in force")
    parameter_name = "in_force"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("In force")), ("no", _("Ended"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[BlockEntry]) -> QuerySet[BlockEntry]:
        if self.value() == "yes":
            return queryset.filter(active_blocks_q())
        if self.value() == "no":
            return queryset.exclude(active_blocks_q())
        return queryset


def _lift(request: HttpRequest, entry: BlockEntry, data: dict[str, Any]) -> Any:
    services.block_lift(entry=entry, actor=request.user)
    return gettext("The block was lifted: new awards are paid again.")


@admin.register(BlockEntry)
class BlockEntryAdmin(AdminActionsMixin, ServiceFormAdmin, HistoryAdmin, ModelAdmin):
    list_display = ["kind", "target_shown", "reason", "until", "in_force", "created_by", "created_at"]
    list_filter = ["kind", InForceFilter]
    search_fields = ["device_id", "network", "reason"]
    autocomplete_fields = ["member"]
    list_select_related = ["created_by"]
    actions_list = ["bulk_add"]
    actions_detail = ["lift"]

    def get_fields(self, request: HttpRequest, obj: BlockEntry | None = None) -> list[str]:
        if obj is None:
            return ["kind", "member", "device_id", "network", "reason", "until"]
        return ["kind", "target_shown", "reason", "until", "created_by", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: BlockEntry | None = None) -> list[str]:
        return [] if obj is None else ["kind", "target_shown", "created_by", "created_at"]

    @display(description=_("blocked"))
    def target_shown(self, obj: BlockEntry) -> str:
        return obj.target

    @display(description=_("in force"), boolean=True)
    def in_force(self, obj: BlockEntry) -> bool:
        return obj.until is None or obj.until > timezone.now()

    def save_model(self, request: HttpRequest, obj: BlockEntry, form: forms.ModelForm, change: bool) -> None:
        services.block_save(entry=obj, actor=request.user)

    def has_delete_permission(self, request: HttpRequest, obj: BlockEntry | None = None) -> bool:
        return False  # lifted, never deleted: held awards keep pointing at a reason that can be looked up

    def has_lift_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("abuse.change_blockentry")

    lift = AdminAction(
        description=_("Lift the block"),
        url_path="lift",
        permissions=["lift"],
        icon="lock_open",
        title=_("Lift the block"),
        explanation=_("The block ends now: awards for new activity are paid again. Awards already held stay in the review queue."),
        perform=_lift,
        unusable=lambda entry: gettext("This block has already ended.") if entry.until and entry.until <= timezone.now() else None,
    )

    @action(description=_("Bulk add"), url_path="bulk-add", permissions=["add"], icon="playlist_add")
    def bulk_add(self, request: HttpRequest) -> HttpResponse:
        back = reverse("admin:abuse_blockentry_changelist")
        form = BulkBlockForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                result = services.blocks_add_many(
                    kind=data["kind"], text=data["values"], reason=data["reason"], until=data["until"], actor=request.user
                )
            except ApplicationError as exc:
                add_service_error(form, exc)
            else:
                messages.success(
                    request,
                    gettext("%(added)s added to the blocklist; %(skipped)s already on it.")
                    % {"added": result.added, "skipped": result.already_blocked},
                )
                return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Add to the blocklist in bulk"),
            "subject": Subject(name=str(_("Blocklist")), url=back),
            "explanation": _("Paste one value per line. A line that is not valid refuses the whole list and names the line."),
            "confirmation": None,
            "unusable": None,
            "form": form,
            "opts": self.model._meta,
            "original": None,
            "change_url": back,
        }
        return TemplateResponse(request, ACTION_TEMPLATE, context)


def member_blocks_section(member: Member) -> SafeString:
    now = timezone.now()
    entries = [
        {
            "url": reverse("admin:abuse_blockentry_change", args=[entry.pk]),
            "reason": entry.reason,
            "until": entry.until,
            "in_force": entry.until is None or entry.until > now,
            "created_at": entry.created_at,
            "created_by": str(entry.created_by or "—"),
        }
        for entry in selectors.member_blocks(member_id=member.pk)[:20]
    ]
    return render_to_string("admin/abuse/member_blocks.html", {"entries": entries, "blocked": any(e["in_force"] for e in entries)})


register_member_page_section(name="abuse_blocks", title=_("Blocklist"), permission="abuse.view_blockentry", render=member_blocks_section)
