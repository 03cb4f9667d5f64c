from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display

from apps.campaigns.models import Segment
from apps.core.admin_base import ModelAdmin, object_or_404
from apps.core.errors import ApplicationError
from apps.core.exports import export_response
from apps.core.service_admin import ServiceFormAdmin, add_service_error
from apps.members.admin import can_see_pii, register_member_page_action, register_member_page_section
from apps.members.models import Member, TagChange
from apps.tagging import selectors, services
from apps.tagging.models import (
    Attribute,
    AttributeImport,
    AttributeKind,
    AutoTagRule,
    TagJob,
    TagJobAction,
    TagJobStatus,
)

EDIT_VALUES_PERMISSION = "tagging.edit_member_attributes"
RUN_JOBS_PERMISSION = "tagging.add_tagjob"
IMPORT_PERMISSION = "tagging.add_attributeimport"
EXPORT_PERMISSION = "members.export_member"
MAX_LIST_BYTES = 20 * 1024 * 1024


class AttributeForm(forms.ModelForm):
    """Choices are typed one per line rather than as JSON."""

    choices = forms.CharField(
        label=_("choices"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One choice per line (choice attributes only)."),
    )

    class Meta:
        model = Attribute
        fields = [
            "code",
            "label",
            "kind",
            "choices",
            "required",
            "min_value",
            "max_value",
            "min_date",
            "max_date",
            "max_length",
            "pattern",
            "personal",
            "position",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["choices"] = "\n".join(self.instance.choices)

    def clean_choices(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["choices"].splitlines() if line.strip()]


@admin.register(Attribute)
class AttributeAdmin(ServiceFormAdmin, ModelAdmin):
    form = AttributeForm
    list_display = ["label", "code", "kind", "required", "personal", "position"]
    search_fields = ["label", "code"]
    list_filter = ["kind", "personal"]

    def save_model(self, request: HttpRequest, obj: Attribute, form: forms.ModelForm, change: bool) -> None:
        services.attribute_save(attribute=obj)

    def has_delete_permission(self, request: HttpRequest, obj: Attribute | None = None) -> bool:
        # Deleting a definition would silently drop every member's value and break segments that use it.
        return False

    def get_urls(self) -> list[Any]:
        own = [
            path("member/<str:member_id>/", self.admin_site.admin_view(self.member_values_view), name="tagging_attribute_member"),
            path("export/", self.admin_site.admin_view(self.export_view), name="tagging_attribute_export"),
        ]
        return own + super().get_urls()

    def member_values_view(self, request: HttpRequest, member_id: str) -> HttpResponse:
        """The member's attribute values as a form; personal ones are shown and edited only by staff who may see them."""
        if not request.user.has_perm(EDIT_VALUES_PERMISSION):
            raise PermissionDenied
        member = object_or_404(Member, member_id)
        allowed = can_see_pii(request)
        attributes = [attribute for attribute in Attribute.objects.all() if allowed or not attribute.personal]
        hidden = [row for row in selectors.member_attributes(member=member, can_see_personal=False) if row["personal"] and not allowed]
        form = MemberValuesForm(request.POST or None, attributes=attributes, initial=selectors.member_attribute_initial(member=member))
        if request.method == "POST" and form.is_valid():
            try:
                services.attribute_values_set(member=member, values=form.values(), actor=request.user)
            except ApplicationError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, _("The member's attributes were saved."))
                return HttpResponseRedirect(reverse("admin:members_member_change", args=[member.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Attributes of %(member)s") % {"member": member.name},
            "form": form,
            "hidden": hidden,
            "member": member,
            "opts": self.model._meta,
            "change_url": reverse("admin:members_member_change", args=[member.pk]),
        }
        return TemplateResponse(request, "admin/tagging/member_values.html", context)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(EXPORT_PERMISSION):
            raise PermissionDenied
        header, rows = selectors.attribute_export_rows(members=Member.objects.all(), can_see_personal=can_see_pii(request))
        return export_response(request, filename="member-attributes.csv", header=header, rows=rows, object_type="tagging.attributevalue")


class MemberValuesForm(forms.Form):
    def __init__(self, *args: Any, attributes: list[Attribute], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.attributes = attributes
        for attribute in attributes:
            self.fields[attribute.code] = _value_field(attribute)

    def values(self) -> dict[str, Any]:
        return {attribute.code: self.cleaned_data.get(attribute.code) for attribute in self.attributes}


def _value_field(attribute: Attribute) -> forms.Field:
    """A form field that only collects text; the service checks every rule and names the attribute in its refusal."""
    common = {"label": attribute.label, "required": False}
    if attribute.kind == AttributeKind.CHOICE:
        return forms.ChoiceField(choices=[("", "—"), *[(c, c) for c in attribute.choices]], **common)
    if attribute.kind == AttributeKind.DATE:
        return forms.CharField(widget=forms.DateInput(attrs={"type": "date"}), help_text=_("YYYY-MM-DD"), **common)
    return forms.CharField(max_length=1000, **common)


class TagJobForm(forms.Form):
    tag = forms.CharField(label=_("Tag"), max_length=200)
    action = forms.ChoiceField(label=_("Action"), choices=TagJobAction.choices, initial=TagJobAction.ADD)
    segment = forms.ModelChoiceField(label=_("Segment"), queryset=Segment.objects.order_by("name"), required=False)
    members_file = forms.FileField(
        label=_("Or a list of members"),
        required=False,
        help_text=_("A text or CSV file with one mobile phone number or external ID per line (the first column is read)."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if bool(data.get("segment")) == bool(data.get("members_file")):
            raise forms.ValidationError(_("Choose a segment or upload a list, not both."))
        upload = data.get("members_file")
        if upload is not None and upload.size > MAX_LIST_BYTES:
            self.add_error("members_file", _("The file is larger than 20 MB."))
        return data


def _identifiers(upload: Any) -> list[str]:
    text = services._decode(upload.read())
    return [line.split(",")[0].strip().strip('"') for line in text.splitlines()]


@admin.register(TagJob)
class TagJobAdmin(ModelAdmin):
    list_display = ["__str__", "segment", "status", "progress", "changed", "unknown_count", "created_by", "created_at"]
    list_filter = ["status", "action"]
    ordering = ["-id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RUN_JOBS_PERMISSION)

    def has_change_permission(self, request: HttpRequest, obj: TagJob | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: TagJob | None = None) -> bool:
        return False

    @display(description=_("progress"))
    def progress(self, obj: TagJob) -> str:
        return f"{obj.done} / {obj.total}"

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = TagJobForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            upload = data.get("members_file")
            try:
                with transaction.atomic():
                    job = services.tag_job_create(
                        tag_name=data["tag"],
                        action=data["action"],
                        segment=data.get("segment"),
                        identifiers=_identifiers(upload) if upload is not None else None,
                        actor=request.user,
                    )
            except ApplicationError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, _("The tag job was queued: this page shows its progress."))
                return HttpResponseRedirect(reverse("admin:tagging_tagjob_change", args=[job.pk]))
        return self._render(request, "admin/tagging/tag_job_form.html", _("Tag many members"), form=form)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        job = object_or_404(TagJob.objects.select_related("tag", "segment", "created_by"), object_id)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        running = job.status in (TagJobStatus.QUEUED, TagJobStatus.RUNNING)
        percent = 100 if job.status == TagJobStatus.DONE else (job.done * 100 // job.total if job.total else 0)
        unknown = selectors.tag_job_unknown_shown(job=job, can_see_personal=can_see_pii(request))
        return self._render(request, "admin/tagging/tag_job.html", str(job), job=job, running=running, percent=percent, unknown=unknown)

    def _render(self, request: HttpRequest, template: str, title: Any, **context: Any) -> HttpResponse:
        base = {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta}
        return TemplateResponse(request, template, {**base, **context})


class AttributeFileForm(forms.Form):
    file = forms.FileField(
        label=_("Attribute file"),
        help_text=_("CSV with an external_id or phone column, then one column per attribute code (UTF-8 or GBK)."),
    )


@admin.register(AttributeImport)
class AttributeImportAdmin(ModelAdmin):
    list_display = ["original_name", "status", "rows", "members_updated", "error_count", "created_by", "created_at"]
    list_filter = ["status"]
    ordering = ["-id"]

    def has_change_permission(self, request: HttpRequest, obj: AttributeImport | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AttributeImport | None = None) -> bool:
        return False

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = AttributeFileForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = services.attribute_import_create(name=upload.name, data=upload.read(), actor=request.user)
            except ApplicationError as exc:
                form.add_error("file", exc.message)
            else:
                messages.success(request, _("The file is being applied in the background: this page shows the outcome."))
                return HttpResponseRedirect(reverse("admin:tagging_attributeimport_change", args=[job.pk]))
        context = {**self.admin_site.each_context(request), "title": _("Import attribute values"), "opts": self.model._meta, "form": form}
        return TemplateResponse(request, "admin/tagging/attribute_import_form.html", context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        job = object_or_404(AttributeImport, object_id)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        running = job.status in (TagJobStatus.QUEUED, TagJobStatus.RUNNING)
        context = {
            **self.admin_site.each_context(request),
            "title": job.original_name,
            "opts": self.model._meta,
            "job": job,
            "running": running,
        }
        return TemplateResponse(request, "admin/tagging/attribute_import.html", context)


@admin.register(AutoTagRule)
class AutoTagRuleAdmin(ServiceFormAdmin, ModelAdmin):
    list_display = ["name", "tag", "segment", "active", "synced_at", "last_added", "last_removed"]
    list_filter = ["active"]
    readonly_fields = ["synced_at", "last_added", "last_removed"]
    autocomplete_fields = ["tag"]
    fields = ["name", "tag", "segment", "active", "synced_at", "last_added", "last_removed"]

    def save_model(self, request: HttpRequest, obj: AutoTagRule, form: forms.ModelForm, change: bool) -> None:
        services.auto_tag_rule_save(rule=obj)


def member_tags_section(member: Member) -> SafeString:
    """Attribute values (personal ones masked: the section is rendered without the reader) and the latest tag changes."""
    attributes = [row for row in selectors.member_attributes(member=member, can_see_personal=False) if row["value"]]
    changes = TagChange.objects.filter(member=member).select_related("tag", "actor").order_by("-at", "-pk")[:10]
    return render_to_string("admin/tagging/member_section.html", {"attributes": attributes, "changes": changes})


register_member_page_section(
    name="tags_attributes", title=_("Tags and attributes"), permission="tagging.view_attribute", render=member_tags_section
)
register_member_page_action(
    group="status",
    title=_("Edit attributes"),
    explanation=_("Set the member's custom attributes; each value is checked against its attribute's rules."),
    permission=EDIT_VALUES_PERMISSION,
    url=lambda member: reverse("admin:tagging_attribute_member", args=[member.pk]),
)


@admin.register(TagChange)
class TagChangeAdmin(ModelAdmin):
    """Tag history across members: read-only, as it is written only with the changes themselves."""

    list_display = ["member", "tag", "action", "source", "reference", "actor", "at"]
    list_filter = ["action", "source"]
    list_select_related = ["member", "tag", "actor"]
    ordering = ["-id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: TagChange | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: TagChange | None = None) -> bool:
        return False
