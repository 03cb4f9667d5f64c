import csv
import io
from dataclasses import replace
from pathlib import Path
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display

from apps.core.admin_base import ModelAdmin, object_or_404
from apps.core.errors import ApplicationError
from apps.core.exports import export_record
from apps.imports import services
from apps.imports.models import ImportJob, ImportStatus
from apps.imports.parsing import TEMPLATE_HEADERS, file_unknown_columns

IMPORT_PERMISSION = "imports.import_members"


def column_label(column: str) -> str:
    """A column as the import template of the operator's language heads it (``name`` is 姓名 in Chinese)."""
    english = TEMPLATE_HEADERS["en"]
    headers = TEMPLATE_HEADERS.get(get_language(), english)
    return headers[english.index(column)] if column in english else column


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("Customer file"), help_text=_("CSV (UTF-8 or GBK, any delimiter) or Excel .xlsx, headers in English or Chinese.")
    )
    all_or_nothing = forms.BooleanField(label=_("All or nothing"), required=False, help_text=_("Import nothing if any row is invalid."))
    welcome_rewards = forms.TypedChoiceField(
        label=_("Who are these members?"),
        choices=[
            ("", _("Members migrated from another system: record their enrolment, do not reward it")),
            ("1", _("New enrolments: welcome rewards apply")),
        ],
        coerce=bool,
        empty_value=False,
        required=False,
        initial="",
        widget=forms.RadioSelect,
        help_text=_("Every member the file creates is recorded as enrolled on their enrolment date; only new enrolments are rewarded."),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if Path(upload.name).suffix.lower() not in (".csv", ".txt", ".xlsx"):
            raise forms.ValidationError(_("Only .csv and .xlsx files can be imported."))
        return upload


@admin.register(ImportJob)
class ImportJobAdmin(ModelAdmin):
    list_display = [
        "original_name",
        "status",
        "progress",
        "created",
        "updated",
        "unchanged",
        "duplicate",
        "invalid",
        "created_by",
        "created_at",
    ]
    list_filter = ["status"]
    # Newest first by key, which its index serves without sorting every job.
    ordering = ["-id"]
    readonly_fields = [f.name for f in ImportJob._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(IMPORT_PERMISSION)

    def has_change_permission(self, request: HttpRequest, obj: ImportJob | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ImportJob | None = None) -> bool:
        return request.user.has_perm(IMPORT_PERMISSION) and request.user.has_perm("imports.delete_importjob")

    def delete_model(self, request: HttpRequest, obj: ImportJob) -> None:
        services.import_job_delete(job=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ImportJob]) -> None:
        for job in queryset.order_by("pk"):
            services.import_job_delete(job=job)

    def has_view_permission(self, request: HttpRequest, obj: ImportJob | None = None) -> bool:
        return request.user.has_perm(IMPORT_PERMISSION) or super().has_view_permission(request, obj)

    @display(description=_("progress"))
    def progress(self, obj: ImportJob) -> str:
        return f"{obj.progress_percent}%"

    def get_urls(self) -> list[Any]:
        own = [
            path("template/<str:language>/", self.admin_site.admin_view(self.template_view), name="imports_importjob_template"),
            path("<int:job_id>/confirm/", self.admin_site.admin_view(self.confirm_view), name="imports_importjob_confirm"),
            path("<int:job_id>/report/", self.admin_site.admin_view(self.report_view), name="imports_importjob_report"),
        ]
        return own + super().get_urls()

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                return self._upload(request, form)
            except ApplicationError as exc:
                form.add_error("file", exc.message)
        return self._render(request, "admin/imports/upload.html", _("Import members"), form=form)

    def _upload(self, request: HttpRequest, form: UploadForm) -> HttpResponse:
        job = services.import_job_create(
            upload=form.cleaned_data["file"],
            all_or_nothing=form.cleaned_data["all_or_nothing"],
            welcome_rewards=form.cleaned_data["welcome_rewards"],
            actor=request.user,
        )
        if services.import_job_in_background(job=job):
            services.import_job_queue(job=job)
            messages.info(
                request,
                _("The file has more than %(threshold)d rows: it is imported in the background.")
                % {"threshold": services.background_threshold_rows()},
            )
            return HttpResponseRedirect(reverse("admin:imports_importjob_change", args=[job.pk]))
        try:
            preview = services.import_file(path=Path(job.file.path), dry_run=True, all_or_nothing=job.all_or_nothing)
        except ApplicationError:
            # A file that cannot be previewed is not kept as a job of its own.
            services.import_job_delete(job=job)
            raise
        errors = [replace(error, column=column_label(error.column)) for error in preview.errors[:200]]
        return self._render(request, "admin/imports/preview.html", _("Check the import"), job=job, summary=preview, errors=errors)

    def confirm_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        if request.method != "POST" or not self.has_add_permission(request):
            raise PermissionDenied
        job = get_object_or_404(ImportJob, pk=job_id, status=ImportStatus.PREVIEWED)
        job = services.import_job_run(job_id=job.pk)
        messages.success(
            request, _("Import finished: %(created)d created, %(updated)d updated.") % {"created": job.created, "updated": job.updated}
        )
        return HttpResponseRedirect(reverse("admin:imports_importjob_change", args=[job.pk]))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        job = object_or_404(ImportJob, object_id)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        running = job.status in (ImportStatus.QUEUED, ImportStatus.RUNNING)
        can_delete = self.has_delete_permission(request, job)
        unknown_columns = file_unknown_columns(Path(job.file.path)) if job.file and Path(job.file.path).exists() else []
        return self._render(
            request,
            "admin/imports/job.html",
            job.original_name,
            job=job,
            running=running,
            can_delete=can_delete,
            unknown_columns=unknown_columns,
        )

    def report_view(self, request: HttpRequest, job_id: int) -> FileResponse:
        """The error report names people: served to those who may import, never from a public URL."""
        job = get_object_or_404(ImportJob, pk=job_id)
        if not request.user.has_perm(IMPORT_PERMISSION) or not job.report:
            raise PermissionDenied
        response = FileResponse(job.report.open("rb"), as_attachment=True, filename=f"import-{job.pk}-errors.csv")
        export_record(
            request, object_type="imports.importjob.error_report", object_id=job.pk, row_count=job.invalid, detail=job.report.name
        )
        return response

    def template_view(self, request: HttpRequest, language: str) -> HttpResponse:
        headers = TEMPLATE_HEADERS.get(language, TEMPLATE_HEADERS["en"])
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(headers)
        writer.writerow(
            ["CRM000123", "张伟", "138 0013 8000", "zhang.wei@example.com", "上海", "2024-03-05", "金卡", "1200", "男", "1990/5/8"]
        )
        response = HttpResponse("\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="member-import-template-{language}.csv"'
        return response

    def _render(self, request: HttpRequest, template: str, title: Any, **context: Any) -> HttpResponse:
        base = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "threshold": services.background_threshold_rows(),
        }
        return TemplateResponse(request, template, {**base, **context})
