from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from modeltranslation.admin import TranslationAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RelatedDropdownFilter
from unfold.decorators import action, display

from apps.core.admin import CodedReasonAdminMixin
from apps.core.admin_actions import AdminAction, AdminActionsMixin, Subject
from apps.core.admin_base import HistoryAdmin, ModelAdmin, TabularInline, object_or_404
from apps.core.admin_filters import filterset_list_filter
from apps.core.errors import ApplicationError
from apps.core.exports import export_response
from apps.core.masking import mask_phone
from apps.core.service_admin import ServiceFormAdmin
from apps.events import selectors, services
from apps.events.api.views import check_in_answer
from apps.events.club_page import CLUB_PAGE_SECTIONS
from apps.events.club_rules import segment_rule
from apps.events.filters import EventFilter
from apps.events.models import (
    Club,
    ClubJoinRequest,
    ClubMembership,
    ClubRole,
    Event,
    JoinRequestStatus,
    Registration,
    RegistrationState,
)
from apps.members.admin import (
    ReasonForm,
    can_see_pii,
    member_picker_rows,
    register_member_page_action,
    register_member_page_section,
)
from apps.members.filters import search_members
from apps.members.models import Member


class EventForm(forms.ModelForm):
    def _post_clean(self) -> None:
        super()._post_clean()
        try:
            services.event_check(event=self.instance)
        except ApplicationError as exc:
            for field, message in exc.fields.items():
                self.add_error(field if field in self.fields else None, message)


class RegistrationInline(TabularInline):
    model = Registration
    extra = 0
    max_num = 0
    can_delete = False
    fields = ["member", "state_link", "companions", "created_at", "promoted_at", "checked_in_at"]
    readonly_fields = fields
    ordering = ["state", "created_at", "pk"]
    verbose_name_plural = _("registrations (waitlist in arrival order)")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @display(description=_("state"))
    def state_link(self, obj: Registration) -> SafeString:
        """The registration's page, where staff cancel it."""
        return format_html(
            '<a class="userops-link" href="{}">{}</a>', reverse("admin:events_registration_change", args=[obj.pk]), obj.get_state_display()
        )


@admin.register(Club)
class ClubAdmin(AdminActionsMixin, ServiceFormAdmin, HistoryAdmin, ModelAdmin):
    change_form_template = "admin/events/club/change_form.html"
    list_display = ["name", "city", "interest", "join_policy", "active_members", "pending_requests", "event_count"]
    list_filter = [("join_policy", ChoicesDropdownFilter)]
    search_fields = ["name", "city", "interest"]
    filter_horizontal = ["organiser_staff", "rule_tiers", "rule_tags"]
    autocomplete_fields = ["organiser_members"]
    readonly_fields = ["members_panel", "requests_panel", "events_panel"]
    actions_detail = ["add_member_page"]
    fieldsets = [
        (_("Club"), {"fields": ["name", "city", "interest", "description", "organiser_members", "organiser_staff"]}),
        (_("Joining"), {"fields": ["join_policy", "max_members", "rule_tiers", "rule_cities", "rule_tags", "rule_segment_id"]}),
        (_("Members"), {"fields": ["members_panel"]}),
        (_("Pending join requests"), {"fields": ["requests_panel"]}),
        (_("Events"), {"fields": ["events_panel"]}),
    ]

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        """The rule's segment is picked by name from the saved segments (their app registers the list)."""
        if db_field.name == "rule_segment_id":
            rule = segment_rule()
            choices = [("", "---------"), *(rule.choices() if rule else [])]
            return forms.TypedChoiceField(
                label=db_field.verbose_name,
                help_text=db_field.help_text,
                choices=choices,
                coerce=int,
                required=False,
                empty_value=None,
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Club | None = None) -> list[Any]:
        fieldsets = super().get_fieldsets(request, obj)
        return fieldsets if obj is not None else fieldsets[:2]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Club]:
        pending = ClubJoinRequest.objects.filter(status=JoinRequestStatus.PENDING)
        return selectors.clubs_with_counts().annotate(pending_count=selectors.count_of(pending, per="club"))

    def save_model(self, request: HttpRequest, obj: Club, form: forms.ModelForm, change: bool) -> None:
        services.club_save(
            club=obj,
            organiser_members=form.cleaned_data.get("organiser_members"),
            organiser_staff=form.cleaned_data.get("organiser_staff"),
            rule_tiers=form.cleaned_data.get("rule_tiers"),
            rule_tags=form.cleaned_data.get("rule_tags"),
        )

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        """The organisers and rules were saved by the service."""
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def has_delete_permission(self, request: HttpRequest, obj: Club | None = None) -> bool:
        return False

    @display(description=_("members"), ordering="active_members")
    def active_members(self, obj: Club) -> int:
        return obj.active_members

    @display(description=_("pending requests"), ordering="pending_count")
    def pending_requests(self, obj: Club) -> int:
        return obj.pending_count

    @display(description=_("events"), ordering="event_count")
    def event_count(self, obj: Club) -> int:
        return obj.event_count

    @display(description=_("current members"))
    def members_panel(self, obj: Club) -> SafeString:
        memberships = selectors.club_current_members(club=obj)
        return render_to_string("admin/events/club/members.html", {"memberships": memberships, "club": obj})

    @display(description=_("requests"))
    def requests_panel(self, obj: Club) -> SafeString:
        return render_to_string("admin/events/club/requests.html", {"requests": selectors.pending_requests(club=obj), "club": obj})

    @display(description=_("events"))
    def events_panel(self, obj: Club) -> SafeString:
        events = obj.events.order_by("-starts_at", "-pk")[:20]
        return render_to_string("admin/events/club/events.html", {"events": events, "club": obj})

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None) -> Any:
        """Below the club's own panels, the sections other apps provide (analytics: what its members did lately)."""
        club = Club.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        sections = [
            {"title": section.title, "html": section.render(club)}
            for section in CLUB_PAGE_SECTIONS.values()
            if club is not None and request.user.has_perm(section.permission)
        ]
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "club_sections": sections})

    def has_members_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("events.change_clubmembership")

    @action(description=_("Add a member"), url_path="add-member", permissions=["members"], icon="group_add")
    def add_member_page(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Find a member and add them with a reason, whatever the join policy (the member limit still holds)."""
        club = object_or_404(Club, object_id)
        change_url = reverse("admin:events_club_change", args=[club.pk])
        error, reason = None, request.POST.get("reason", "")
        if request.method == "POST":
            member = get_object_or_404(Member, pk=request.POST.get("member"))
            try:
                services.club_member_add(club=club, member=member, actor=request.user, reason=reason)
            except ApplicationError as exc:
                error = exc.message
            else:
                messages.success(request, _("%(name)s is now a member of %(club)s.") % {"name": member.name, "club": club.name})
                return HttpResponseRedirect(change_url)
        query = request.GET.get("q", "")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Add a member: %(club)s") % {"club": club.name},
            "club": club,
            "original": club,
            "query": query,
            "members": member_picker_rows(request, query),
            "error": error,
            "reason": reason,
            "opts": self.model._meta,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/events/club/add_member.html", context)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=ClubRole.choices)


def _club_url(obj: ClubMembership | ClubJoinRequest) -> str:
    return reverse("admin:events_club_change", args=[obj.club_id])


def _remove_member(request: HttpRequest, membership: ClubMembership, data: dict[str, Any]) -> Any:
    services.club_member_remove(club=membership.club, member=membership.member, actor=request.user, reason=data["reason"])
    return _("%(name)s was removed from %(club)s.") % {"name": membership.member.name, "club": membership.club.name}


def _set_role(request: HttpRequest, membership: ClubMembership, data: dict[str, Any]) -> Any:
    changed = services.club_role_set(club=membership.club, member=membership.member, role=data["role"])
    return _("%(name)s is now %(role)s of %(club)s.") % {
        "name": membership.member.name,
        "role": changed.get_role_display().lower(),
        "club": membership.club.name,
    }


def _membership_subject(membership: ClubMembership) -> Subject:
    return Subject(
        name=f"{membership.member.name} · {membership.club.name}",
        url=_club_url(membership),
        facts=[str(membership.get_role_display()), timezone.localtime(membership.joined_at).strftime("%Y-%m-%d")],
    )


def _membership_closed(membership: ClubMembership) -> str | None:
    return _("The member left this club.") if membership.left_at else None


@admin.register(ClubMembership)
class ClubMembershipAdmin(AdminActionsMixin, HistoryAdmin, ModelAdmin):
    """Every stay of a member in a club (leaving closes it, rejoining opens another), with its role changes."""

    list_display = ["club", "member", "role", "joined_at", "joined_via", "left_at"]
    list_filter = [("club", RelatedDropdownFilter), ("role", ChoicesDropdownFilter), ("joined_via", ChoicesDropdownFilter)]
    list_select_related = ["club", "member"]
    ordering = ["-id"]
    readonly_fields = [f.name for f in ClubMembership._meta.fields]
    actions_detail = ["remove_member", "change_role"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ClubMembership | None = None) -> bool:
        return False

    def has_manage_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("events.change_clubmembership")

    remove_member = AdminAction(
        description=_("Remove from the club"),
        url_path="remove",
        permissions=["manage"],
        icon="person_remove",
        title=_("Remove from the club"),
        explanation=_("The member leaves the club now; the stay and your reason stay in its history. They can join again later."),
        form_class=ReasonForm,
        perform=_remove_member,
        select_related=["club", "member"],
        done_url=_club_url,
        back_url=_club_url,
        subject=_membership_subject,
        unusable=_membership_closed,
    )
    change_role = AdminAction(
        description=_("Change role"),
        url_path="role",
        permissions=["manage"],
        icon="badge",
        title=_("Change the member's role in the club"),
        explanation=_("Organisers decide join requests of their club in the member app."),
        form_class=RoleForm,
        perform=_set_role,
        select_related=["club", "member"],
        done_url=_club_url,
        back_url=_club_url,
        subject=_membership_subject,
        unusable=_membership_closed,
    )


def _approve(request: HttpRequest, join_request: ClubJoinRequest, data: dict[str, Any]) -> Any:
    services.club_join_approve(join_request=join_request, staff=request.user)
    return _("%(name)s joined %(club)s.") % {"name": join_request.member.name, "club": join_request.club.name}


def _decline(request: HttpRequest, join_request: ClubJoinRequest, data: dict[str, Any]) -> Any:
    services.club_join_decline(join_request=join_request, staff=request.user, reason=data["reason"])
    return _("The request of %(name)s was declined.") % {"name": join_request.member.name}


def _request_subject(join_request: ClubJoinRequest) -> Subject:
    facts = [str(join_request.member.tier), join_request.member.city or "—"]
    if join_request.message:
        facts.append(join_request.message)
    return Subject(name=f"{join_request.member.name} → {join_request.club.name}", url=_club_url(join_request), facts=facts)


def _request_decided(join_request: ClubJoinRequest) -> str | None:
    if join_request.status == JoinRequestStatus.PENDING:
        return None
    return _("This request is already %(status)s.") % {"status": join_request.get_status_display().lower()}


@admin.register(ClubJoinRequest)
class ClubJoinRequestAdmin(AdminActionsMixin, ModelAdmin):
    list_display = ["club", "member", "status", "created_at", "decided_at"]
    list_filter = [("status", ChoicesDropdownFilter), ("club", RelatedDropdownFilter)]
    list_select_related = ["club", "member"]
    ordering = ["-id"]
    readonly_fields = [f.name for f in ClubJoinRequest._meta.fields]
    actions_detail = ["approve", "decline"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ClubJoinRequest | None = None) -> bool:
        return False

    def has_decide_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        """Staff who manage clubs, or the staff organisers of the request's club."""
        if request.user.has_perm("events.change_clubjoinrequest"):
            return True
        if object_id is None or not str(object_id).isdigit():
            return False
        return ClubJoinRequest.objects.filter(pk=object_id, club__organiser_staff=request.user).exists()

    def has_view_permission(self, request: HttpRequest, obj: ClubJoinRequest | None = None) -> bool:
        if super().has_view_permission(request, obj):
            return True
        return obj is not None and obj.club.organiser_staff.filter(pk=request.user.pk).exists()

    approve = AdminAction(
        description=_("Approve"),
        url_path="approve",
        permissions=["decide"],
        icon="how_to_reg",
        title=_("Approve the join request"),
        explanation=_("The member joins the club now (if it still has room)."),
        perform=_approve,
        select_related=["club", "member", "member__tier"],
        done_url=_club_url,
        back_url=_club_url,
        subject=_request_subject,
        unusable=_request_decided,
    )
    decline = AdminAction(
        description=_("Decline"),
        url_path="decline",
        permissions=["decide"],
        icon="block",
        title=_("Decline the join request"),
        explanation=_("The member sees your reason in the member app."),
        form_class=ReasonForm,
        perform=_decline,
        select_related=["club", "member", "member__tier"],
        done_url=_club_url,
        back_url=_club_url,
        subject=_request_subject,
        unusable=_request_decided,
    )


def _transition(service: Callable[..., Any], done: Any) -> Callable[[HttpRequest, Event, dict[str, Any]], Any]:
    """A confirmed status change of an event: the service, then ``done``."""

    def perform(request: HttpRequest, event: Event, data: dict[str, Any]) -> Any:
        service(event=event)
        return done

    return perform


def _cancel_event(request: HttpRequest, event: Event, data: dict[str, Any]) -> Any:
    count = services.event_cancel(event=event, reason=data["reason"], actor=request.user)
    return _("The event is cancelled; %(count)d registrations were cancelled and refunded.") % {"count": count}


def _club_choices() -> list[tuple[int, str]]:
    return [(club.pk, str(club)) for club in Club.objects.order_by("name")]


@admin.register(Event)
class EventAdmin(AdminActionsMixin, ServiceFormAdmin, HistoryAdmin, TranslationAdmin, ModelAdmin):
    form = EventForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["title", "city", "starts_at", "status", "capacity", "seats_taken", "waitlisted"]
    list_filter = [
        filterset_list_filter(EventFilter, "status", parameter="status__exact"),
        filterset_list_filter(EventFilter, "kind", parameter="kind__exact"),
        filterset_list_filter(EventFilter, "club", parameter="club__id__exact", choices=_club_choices),
    ]
    search_fields = ["title", "city", "venue"]
    filter_horizontal = ["eligible_tiers"]
    readonly_fields = ["status", "seats_taken", "cancel_reason", "counts"]
    inlines = [RegistrationInline]
    actions_detail = ["check_in_page", "register_member", "publish", "close_registration", "cancel_event", "export_attendees"]
    fieldsets = [
        (_("Event"), {"fields": ["title", "description", "cover", "kind", "club", "members_only", "city", "venue", "online_url"]}),
        (_("Dates"), {"fields": ["starts_at", "ends_at", "registration_opens_at", "registration_closes_at", "cancellation_deadline"]}),
        (_("Seats and points"), {"fields": ["capacity", "max_companions", "eligible_tiers", "points_price", "attendance_points"]}),
        (_("Status"), {"fields": ["status", "seats_taken", "cancel_reason", "counts"]}),
    ]

    def save_model(self, request: HttpRequest, obj: Event, form: forms.ModelForm, change: bool) -> None:
        services.event_save(event=obj)

    def has_delete_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Event]:
        return (
            super()
            .get_queryset(request)
            .annotate(waitlisted_count=Count("registrations", filter=Q(registrations__state=RegistrationState.WAITLISTED)))
        )

    @display(description=_("waitlisted"), ordering="waitlisted_count")
    def waitlisted(self, obj: Event) -> int:
        return obj.waitlisted_count

    @display(description=_("counts"))
    def counts(self, obj: Event) -> SafeString:
        if not obj.pk:
            return SafeString("")
        return render_to_string("admin/events/event/counts.html", {"counts": selectors.event_counts(event=obj), "event": obj})

    def has_manage_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("events.change_event")

    def has_check_in_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("events.change_registration")

    def has_export_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("events.view_registration")

    publish = AdminAction(
        description=_("Publish"),
        url_path="publish",
        permissions=["manage"],
        icon="publish",
        title=_("Publish event"),
        explanation=_("Members see the event and can register once registration opens."),
        perform=_transition(services.event_publish, _("The event is published.")),
    )
    close_registration = AdminAction(
        description=_("Close registration"),
        url_path="close",
        permissions=["manage"],
        icon="lock",
        title=_("Close registration"),
        explanation=_("No one can register any more; existing registrations stay."),
        perform=_transition(services.event_close, _("Registration is closed.")),
    )
    cancel_event = AdminAction(
        description=_("Cancel event"),
        url_path="cancel",
        permissions=["manage"],
        icon="event_busy",
        title=_("Cancel event"),
        form_class=ReasonForm,
        perform=_cancel_event,
    )

    @action(description=_("Export attendees"), url_path="export", permissions=["export"], icon="download")
    def export_attendees(self, request: HttpRequest, object_id: str) -> HttpResponse:
        event = object_or_404(Event, object_id)
        full = can_see_pii(request)
        rows = (
            [
                r.member.name,
                r.member.phone if full else mask_phone(r.member.phone),
                r.get_state_display(),
                r.companions,
                r.created_at,
                r.checked_in_at or "",
            ]
            for r in selectors.attendee_rows(event=event)
        )
        header = [
            str(pgettext_lazy("person", "Name")),
            str(_("Mobile phone")),
            str(_("State")),
            str(_("Companions")),
            str(_("Registered at")),
            str(_("Checked in at")),
        ]
        return export_response(
            request,
            filename=f"attendees-{event.pk}.csv",
            header=header,
            rows=rows,
            object_type="events.event.attendees",
            object_id=event.pk,
        )

    @action(description=_("Check-in"), url_path="check-in", permissions=["check_in"], icon="qr_code_scanner")
    def check_in_page(self, request: HttpRequest, object_id: str) -> HttpResponse:
        event = object_or_404(Event, object_id)
        result, matches, error = None, [], None
        if request.method == "POST":
            try:
                result = check_in_answer(
                    services.registration_check_in(ticket=request.POST.get("ticket", ""), event=event, actor=request.user)
                )
            except ApplicationError as exc:
                error = exc.message
        elif request.GET.get("phone"):
            members = search_members(Member.objects.all(), request.GET["phone"], by_personal_data=can_see_pii(request))
            matches = list(selectors.attendee_rows(event=event).filter(member__in=members)[:20])
        context = {
            **self.admin_site.each_context(request),
            "title": _("Check-in: %(event)s") % {"event": event.title},
            "event": event,
            "counts": selectors.event_counts(event=event),
            "result": result,
            "error": error,
            "matches": matches,
            "opts": self.model._meta,
            "now": timezone.now(),
        }
        context["check_in_opens"], context["check_in_closes"] = services.check_in_window(event=event)
        return TemplateResponse(request, "admin/events/event/check_in.html", context)

    # Staff register members on their behalf through the same service as the member app: capacity, waitlist, points
    # price, tier and per-member rules are the same; only the caller differs.

    def get_urls(self) -> list[Any]:
        register_for_member = self.admin_site.admin_view(self.register_for_member)
        return [
            path("register-member/<int:member_id>/", register_for_member, name="events_event_register_for_member"),
            *super().get_urls(),
        ]

    @action(description=_("Register a member"), url_path="register", permissions=["check_in"], icon="person_add")
    def register_member(self, request: HttpRequest, object_id: str) -> HttpResponse:
        event = object_or_404(Event, object_id)
        change_url = reverse("admin:events_event_change", args=[event.pk])
        error = None
        if request.method == "POST":
            member = get_object_or_404(Member, pk=request.POST.get("member"))
            registered, error = _register(request, event=event, member=member)
            if registered:
                return HttpResponseRedirect(change_url)
        query = request.GET.get("q", "")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Register a member: %(event)s") % {"event": event.title},
            "event": event,
            "original": event,
            "query": query,
            "members": member_picker_rows(request, query),
            "error": error,
            "opts": self.model._meta,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/events/event/register_member.html", context)

    def register_for_member(self, request: HttpRequest, member_id: int) -> HttpResponse:
        if not self.has_check_in_permission(request):
            raise PermissionDenied
        member = get_object_or_404(Member.objects.select_related("tier", "points_account"), pk=member_id)
        member_url = reverse("admin:members_member_change", args=[member.pk])
        error = None
        if request.method == "POST":
            event = get_object_or_404(Event, pk=request.POST.get("event"))
            registered, error = _register(request, event=event, member=member)
            if registered:
                return HttpResponseRedirect(member_url)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Register for an event"),
            "member": member,
            "original": member,
            "events": selectors.events_open_for_registration(),
            "error": error,
            "opts": Member._meta,
            "change_url": member_url,
        }
        return TemplateResponse(request, "admin/events/event/register_for_member.html", context)


def _register(request: HttpRequest, *, event: Event, member: Member) -> tuple[bool, str | None]:
    """Register through the service; a refusal comes back as the message to show, and nothing was changed."""
    try:
        companions = int(request.POST.get("companions") or 0)
    except ValueError:
        return False, str(_("Companions must be a whole number."))
    try:
        registration = services.registration_create(event=event, member=member, companions=companions)
    except ApplicationError as exc:
        return False, exc.message
    if registration.state == RegistrationState.WAITLISTED:
        messages.warning(request, _("The event is full: %(name)s is on the waitlist, in arrival order.") % {"name": member.name})
    elif registration.payment_id:
        messages.success(
            request,
            _("%(name)s is registered for %(event)s; %(points)d points were paid.")
            % {"name": member.name, "event": event.title, "points": event.points_price},
        )
    else:
        messages.success(request, _("%(name)s is registered for %(event)s.") % {"name": member.name, "event": event.title})
    return True, None


def _cancel_registration(request: HttpRequest, registration: Registration, data: dict[str, Any]) -> Any:
    promoted = services.registration_cancel(registration=registration, reason=data["reason"], actor=request.user)
    return _("Cancelled; %(count)d waitlisted registrations were seated.") % {"count": len(promoted)}


@admin.register(Registration)
class RegistrationAdmin(AdminActionsMixin, CodedReasonAdminMixin, ModelAdmin):
    list_display = ["event", "member", "state", "companions", "created_at", "checked_in_at"]
    list_filter = [("state", ChoicesDropdownFilter), ("event", RelatedDropdownFilter)]
    list_select_related = ["event", "member"]
    # Newest first by key, which its index serves without sorting every registration.
    ordering = ["-id"]
    readonly_fields = [f.name for f in Registration._meta.fields]
    actions_detail = ["cancel_registration"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Registration | None = None) -> bool:
        return False

    def has_cancel_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("events.change_registration")

    cancel_registration = AdminAction(
        description=_("Cancel registration"),
        url_path="cancel",
        permissions=["cancel"],
        icon="cancel",
        title=_("Cancel registration"),
        form_class=ReasonForm,
        perform=_cancel_registration,
        select_related=["event", "member"],
    )


def member_registrations_section(member: Member) -> SafeString:
    registrations = selectors.member_registrations(member=member)[:20]
    return render_to_string("admin/events/member_registrations.html", {"registrations": registrations})


register_member_page_section(
    name="event_registrations", title=_("Events"), permission="events.view_registration", render=member_registrations_section
)
register_member_page_action(
    group="events",
    title=_("Register for an event"),
    explanation=_("Registers the member for an open event with the member app's rules: seats, waitlist, points price, tier."),
    permission="events.change_registration",
    url=lambda member: reverse("admin:events_event_register_for_member", args=[member.pk]),
)
