"""The back office of duplicates: the finder's list, and one page per pair that shows both members side by side
(masked per role), asks which one survives and which value wins each conflict, and merges or dismisses the pair."""

from datetime import date
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Case, When
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display

from apps.core.admin_base import ModelAdmin, object_or_404
from apps.core.errors import ApplicationError
from apps.core.masking import mask_birthday, mask_email, mask_phone
from apps.core.models import AccessAction
from apps.core.service_admin import add_service_error
from apps.core.services import access_log_record
from apps.members import selectors, services
from apps.members.admin import MEMBER_TYPE, can_see_pii
from apps.members.merging import MERGED, SURVIVOR, MergeConflict, conflict_key
from apps.members.models import DuplicateCandidate, DuplicateState, Member, MemberMerge
from apps.members.services.merge import IDENTITY, PERSONAL_FIELDS

MERGE_PERMISSION = "members.merge_member"
A, B = "a", "b"
PERSONAL_MASK = "****"
MASKS = {"phone": mask_phone, "email": mask_email, "birthday": mask_birthday}


def _shown(field: str, value: Any, full: bool) -> str:
    if value in (None, ""):
        return "—"
    if full or field not in PERSONAL_FIELDS:
        return date_format(value) if field == "birthday" else str(value)
    mask = MASKS[field]
    return mask(value)


def _side(member: Member, full: bool) -> dict[str, Any]:
    summary = selectors.member_points_summary(member=member)
    return {
        "id": member.pk,
        "url": reverse("admin:members_member_change", args=[member.pk]),
        "rows": [
            (_("Name"), member.name),
            (_("Mobile phone"), _shown("phone", member.phone, full)),
            (_("Email"), _shown("email", member.email, full)),
            (_("Birthday"), _shown("birthday", member.birthday, full)),
            (_("External ID"), member.external_id or "—"),
            (_("City"), member.city or "—"),
            (_("Gender"), member.get_gender_display()),
            (_("Tier"), str(member.tier)),
            (_("Status"), member.get_status_display()),
            (_("Points"), summary.balance),
            (_("Growth value"), member.growth_value),
            (_("Joined"), date_format(timezone.localtime(member.joined_at), "SHORT_DATE_FORMAT")),
        ],
    }


class MergeForm(forms.Form):
    """Which member survives, and per conflict whose value wins (``a`` or ``b``: the pair's members, as shown)."""

    survivor = forms.ChoiceField(label=_("Member that stays"), widget=forms.RadioSelect)

    def __init__(self, *args: Any, pair: DuplicateCandidate, conflicts: list[MergeConflict], full: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        name_a, name_b = f"#{pair.member_a_id} {pair.member_a.name}", f"#{pair.member_b_id} {pair.member_b.name}"
        self.fields["survivor"].choices = [(A, name_a), (B, name_b)]
        self.conflicts = conflicts
        for conflict in conflicts:
            if conflict.section == IDENTITY and conflict.field in PERSONAL_FIELDS:
                shown_a, shown_b = (
                    _shown(conflict.field, conflict.survivor_value, full),
                    _shown(conflict.field, conflict.merged_value, full),
                )
            elif conflict.personal and not full:
                shown_a = shown_b = PERSONAL_MASK
            else:
                shown_a, shown_b = str(conflict.survivor_value), str(conflict.merged_value)
            # Left open, the merge service refuses and names every conflict still to decide.
            self.fields[conflict_key(conflict)] = forms.ChoiceField(
                required=False,
                label=conflict.label,
                widget=forms.RadioSelect,
                choices=[(A, f"{shown_a} (#{pair.member_a_id})"), (B, f"{shown_b} (#{pair.member_b_id})")],
            )

    def service_choices(self) -> tuple[int, int, dict[str, str]]:
        """(survivor id, merged id, choices as the service takes them: each conflict's winning side)."""
        pair: DuplicateCandidate = self.pair
        survivor_side = self.cleaned_data["survivor"]
        survivor, merged = (pair.member_a_id, pair.member_b_id) if survivor_side == A else (pair.member_b_id, pair.member_a_id)
        choices = {
            conflict_key(conflict): SURVIVOR if self.cleaned_data[conflict_key(conflict)] == survivor_side else MERGED
            for conflict in self.conflicts
            if self.cleaned_data[conflict_key(conflict)]
        }
        return survivor, merged, choices


@admin.register(DuplicateCandidate)
class DuplicateCandidateAdmin(ModelAdmin):
    list_display = ["pair_display", "reason", "score", "state_display", "found_at"]
    list_filter = ["state", "reason"]
    list_select_related = ["member_a", "member_b"]
    # Pairs still to decide come first, the surest first.
    ordering = [Case(When(state=DuplicateState.OPEN, then=0), default=1), "-score", "id"]
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: DuplicateCandidate | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DuplicateCandidate | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("member_a", "member_b")

    @display(description=_("pair"))
    def pair_display(self, obj: DuplicateCandidate) -> str:
        return f"#{obj.member_a_id} {obj.member_a.name} ~ #{obj.member_b_id} {obj.member_b.name}"

    @display(
        description=_("state"), label={DuplicateState.OPEN: "warning", DuplicateState.MERGED: "success", DuplicateState.DISMISSED: "info"}
    )
    def state_display(self, obj: DuplicateCandidate) -> tuple[str, str]:
        return obj.state, obj.get_state_display()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The pair's page: both members side by side, the merge form, and dismissal."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        pair = object_or_404(self.get_queryset(request), object_id)
        may_decide = request.user.has_perm(MERGE_PERMISSION) and pair.state == DuplicateState.OPEN
        if request.method == "POST" and not may_decide:
            raise PermissionDenied
        full = can_see_pii(request)
        conflicts = services.member_merge_conflicts(survivor=pair.member_a, merged=pair.member_b)
        form = MergeForm(
            request.POST if request.method == "POST" and "_merge" in request.POST else None, pair=pair, conflicts=conflicts, full=full
        )
        form.pair = pair
        if request.method == "POST" and "_dismiss" in request.POST:
            try:
                services.duplicate_dismiss(candidate=pair, actor=request.user)
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, _("The pair was dismissed: the finder will not list it again."))
            return HttpResponseRedirect(reverse("admin:members_duplicatecandidate_changelist"))
        if request.method == "POST" and form.is_valid():
            survivor, merged, choices = form.service_choices()
            try:
                services.member_merge(survivor_id=survivor, merged_id=merged, actor=request.user, choices=choices)
            except ApplicationError as exc:
                add_service_error(form, exc)
            else:
                messages.success(
                    request, _("Member #%(merged)s was merged into member #%(survivor)s.") % {"merged": merged, "survivor": survivor}
                )
                return HttpResponseRedirect(reverse("admin:members_member_change", args=[survivor]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Possible duplicate: %(reason)s") % {"reason": pair.get_reason_display()},
            "pair": pair,
            "sides": [_side(pair.member_a, full), _side(pair.member_b, full)],
            "form": form,
            "may_decide": may_decide,
            "opts": self.model._meta,
            "original": pair,
        }
        if full:
            # Both members' personal data in full, as on the member page: each view is in the access log.
            for member_id in (pair.member_a_id, pair.member_b_id):
                access_log_record(action=AccessAction.VIEW_MEMBER_DETAIL, request=request, object_type=MEMBER_TYPE, object_id=member_id)
        return TemplateResponse(request, "admin/members/duplicatecandidate/merge.html", context)


@admin.register(MemberMerge)
class MemberMergeAdmin(ModelAdmin):
    """The audit of merges: read-only; the merged identity's personal data masked for staff without the right."""

    list_display = ["merged_display", "survivor", "actor", "merged_at"]
    list_select_related = ["survivor", "merged", "actor"]
    readonly_fields = ["survivor", "merged", "actor", "merged_at", "choices", "moved", "merged_snapshot", "masked_snapshot"]
    ordering = ["-id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: MemberMerge | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: MemberMerge | None = None) -> bool:
        return False

    @display(description=_("merged member"))
    def merged_display(self, obj: MemberMerge) -> str:
        return f"#{obj.merged_id} {obj.merged.name}"

    @display(description=_("merged member's identity"))
    def masked_snapshot(self, obj: MemberMerge) -> str:
        snapshot = dict(obj.merged_snapshot)
        for field in PERSONAL_FIELDS:
            value = snapshot.get(field)
            # The snapshot keeps the birthday as ISO text.
            if field == "birthday":
                snapshot[field] = mask_birthday(date.fromisoformat(value)) if value else "—"
            else:
                snapshot[field] = _shown(field, value, full=False)
        return ", ".join(f"{key}: {value}" for key, value in snapshot.items())

    def get_fields(self, request: HttpRequest, obj: MemberMerge | None = None) -> list[str]:
        snapshot = "merged_snapshot" if can_see_pii(request) else "masked_snapshot"
        return ["survivor", "merged", "actor", "merged_at", "choices", "moved", snapshot]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        merge = self.get_object(request, unquote(object_id))
        if merge is not None and response.status_code == 200 and can_see_pii(request):
            # The merged member's identity as it was, in full: a view of their details like the member page's.
            access_log_record(action=AccessAction.VIEW_MEMBER_DETAIL, request=request, object_type=MEMBER_TYPE, object_id=merge.merged_id)
        return response
