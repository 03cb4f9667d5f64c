"""The journey page: entry and exits (the change form), the steps editor, the transitions and the per-step figures."""

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
from unfold.decorators import action, display

from apps.benefits.models import Benefit, BenefitStatus
from apps.core.admin_actions import AdminAction, AdminActionsMixin
from apps.core.admin_base import HistoryAdmin, ModelAdmin, object_or_404
from apps.core.errors import ApplicationError
from apps.core.service_admin import ServiceFormAdmin
from apps.journeys import selectors, services
from apps.journeys.models import (
    JOURNEY_TRANSITION_FROM,
    BranchCondition,
    Enrolment,
    Journey,
    JourneyStatus,
    StepKind,
)
from apps.journeys.steps import StepSpec
from apps.members.models import ConsentChannel
from apps.messaging.models import MessagePurpose

WEEKDAYS = [
    ("", "—"),
    ("0", _("Monday")),
    ("1", _("Tuesday")),
    ("2", _("Wednesday")),
    ("3", _("Thursday")),
    ("4", _("Friday")),
    ("5", _("Saturday")),
    ("6", _("Sunday")),
]
STEP_VALUE_FIELDS = [
    "days",
    "hours",
    "weekday",
    "at_time",
    "condition",
    "value",
    "template_code",
    "channel",
    "purpose",
    "benefit",
    "points",
    "valid_days",
    "tag",
]


class StepForm(forms.Form):
    """One step: its kind and the values of every kind; the service checks which the kind needs (and names the field)."""

    kind = forms.ChoiceField(label=_("kind"), choices=[("", "—"), *StepKind.choices], required=False)
    days = forms.IntegerField(label=_("wait days"), required=False, min_value=0)
    hours = forms.IntegerField(label=_("wait hours"), required=False, min_value=0)
    weekday = forms.ChoiceField(label=_("or until weekday"), choices=WEEKDAYS, required=False)
    at_time = forms.CharField(label=_("at (HH:MM)"), required=False, max_length=5)
    condition = forms.ChoiceField(label=_("condition"), choices=[("", "—"), *BranchCondition.choices], required=False)
    value = forms.CharField(label=_("condition value"), required=False, max_length=500, help_text=_("Comma-separated when several."))
    yes_next = forms.IntegerField(label=_("if yes, go to step"), required=False, min_value=1)
    no_next = forms.IntegerField(label=_("if no, go to step"), required=False, min_value=1)
    template_code = forms.CharField(label=_("message template"), required=False, max_length=64)
    channel = forms.ChoiceField(label=_("channel"), choices=[("", "—"), *ConsentChannel.choices], required=False)
    purpose = forms.ChoiceField(label=_("purpose"), choices=MessagePurpose.choices, required=False)
    benefit = forms.ModelChoiceField(label=_("benefit"), queryset=Benefit.objects.filter(status=BenefitStatus.ACTIVE), required=False)
    points = forms.IntegerField(label=_("points"), required=False, min_value=1)
    valid_days = forms.IntegerField(label=_("points valid (days)"), required=False, min_value=1)
    tag = forms.CharField(label=_("tag"), required=False, max_length=50)


StepFormSet = forms.formset_factory(StepForm, extra=3, max_num=30)


def _initial(journey: Journey) -> list[dict[str, Any]]:
    """The current version's steps as the editor's rows."""
    if journey.current_version is None:
        return []
    rows = []
    for step in journey.current_version.steps.all():
        params = step.params
        row: dict[str, Any] = {"kind": step.kind, "yes_next": step.yes_next, "no_next": step.no_next}
        row.update({name: params[name] for name in ("days", "hours", "template_code", "channel", "purpose", "tag") if name in params})
        if "weekday" in params:
            row.update(weekday=str(params["weekday"]), at_time=params["time"])
        if "condition" in params:
            row.update(condition=params["condition"], value=", ".join(params["values"]))
        if "benefit_id" in params:
            row["benefit"] = params["benefit_id"]
        if "amount" in params:
            row.update(points=params["amount"], valid_days=params.get("valid_days"))
        rows.append(row)
    return rows


def _transition(name: str, label: Any, question: Any, done: Any, call: Any) -> AdminAction:
    def perform(request: HttpRequest, journey: Journey, data: dict[str, Any]) -> Any:
        call(journey=journey, actor=request.user)
        return done

    def unusable(journey: Journey) -> str | None:
        if journey.status in JOURNEY_TRANSITION_FROM[name]:
            return None
        return _("A %(status)s journey cannot take this action.") % {"status": journey.get_status_display().lower()}

    return AdminAction(
        description=label,
        url_path=name,
        permissions=["run"],
        title=label,
        explanation=question,
        perform=perform,
        unusable=unusable,
    )


@admin.register(Journey)
class JourneyAdmin(AdminActionsMixin, ServiceFormAdmin, HistoryAdmin, ModelAdmin):
    list_display = ["name", "status", "entry_kind", "version_display", "started_at"]
    list_filter = ["status", "entry_kind"]
    search_fields = ["name"]
    readonly_fields = ["status", "version_display", "started_at", "steps_link", "figures"]
    actions_detail = ["edit_steps", "start", "pause", "resume", "stop"]
    fieldsets = [
        (None, {"fields": ["name", "description", "status", "version_display", "started_at"]}),
        (
            _("Entry"),
            {
                "fields": [
                    "entry_kind",
                    "entry_segment",
                    "entry_activity_kind",
                    "entry_properties",
                    "entry_stage",
                    "reentry",
                    "reentry_days",
                ]
            },
        ),
        (_("Holdout and exits"), {"fields": ["holdout_percent", "goal_activity_kind", "timeout_days"]}),
        (_("Points budget"), {"fields": ["points_budget"]}),
        (_("Steps and figures"), {"fields": ["steps_link", "figures"]}),
    ]

    def save_model(self, request: HttpRequest, obj: Journey, form: forms.ModelForm, change: bool) -> None:
        services.journey_save(journey=obj, actor=request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Journey | None = None) -> bool:
        return False

    def has_run_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return request.user.has_perm("journeys.run_journey")

    def has_edit_steps_permission(self, request: HttpRequest, object_id: str | None = None) -> bool:
        return self.has_change_permission(request)

    @display(description=_("version"))
    def version_display(self, obj: Journey) -> str:
        return f"v{obj.current_version.number}" if obj.current_version_id else "—"

    @display(description=_("steps"))
    def steps_link(self, obj: Journey) -> str:
        if not obj.pk or obj.current_version_id is None:
            return str(_("No steps yet: use “Edit steps”."))
        return ", ".join(str(step) for step in obj.current_version.steps.all())

    @display(description=_("figures"))
    def figures(self, obj: Journey) -> SafeString:
        if not obj.pk:
            return SafeString("")
        return render_to_string("journeys/figures.html", {"figures": selectors.journey_figures(journey=obj)})

    # The steps editor ----------------------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        steps = self.admin_site.admin_view(self.steps_view)
        return [path("<path:object_id>/steps/", steps, name="journeys_journey_steps"), *super().get_urls()]

    @action(description=_("Edit steps"), url_path="edit-steps", permissions=["edit_steps"])
    def edit_steps(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:journeys_journey_steps", args=[object_id]))

    def steps_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        journey = object_or_404(Journey.objects.select_related("current_version"), object_id)
        if not self.has_change_permission(request, journey):
            raise PermissionDenied
        change_url = reverse("admin:journeys_journey_change", args=[journey.pk])
        formset = StepFormSet(request.POST or None, initial=None if request.method == "POST" else _initial(journey))
        if request.method == "POST" and formset.is_valid():
            used = [form for form in formset.forms if form.cleaned_data.get("kind")]
            specs = [
                StepSpec(
                    kind=form.cleaned_data["kind"],
                    values={name: form.cleaned_data.get(name) for name in STEP_VALUE_FIELDS},
                    yes_next=form.cleaned_data.get("yes_next"),
                    no_next=form.cleaned_data.get("no_next"),
                )
                for form in used
            ]
            try:
                with transaction.atomic():
                    version = services.journey_steps_save(journey=journey, steps=specs, actor=request.user)
            except ApplicationError as exc:
                self._step_error(formset, used, exc)
            else:
                messages.success(request, _("Steps saved as version %(number)d.") % {"number": version.number})
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Steps of %(journey)s") % {"journey": journey.name},
            "journey": journey,
            "formset": formset,
            "change_url": change_url,
            "opts": self.model._meta,
            "original": journey,
            "has_entrants": journey.current_version is not None and journey.current_version.enrolments.exists(),
        }
        return TemplateResponse(request, "journeys/steps_form.html", context)

    @staticmethod
    def _step_error(formset: forms.BaseFormSet, used: list[forms.Form], error: ApplicationError) -> None:
        """The refusal on the step and field it names (``step_<position>.<field>``), else above the steps."""
        for key in error.fields:
            step, _sep, name = key.partition(".")
            position = step.removeprefix("step_")
            if position.isdigit() and 0 < int(position) <= len(used) and name in used[int(position) - 1].fields:
                used[int(position) - 1].add_error(name, error.message)
                return
        formset._non_form_errors = formset.error_class([error.message])

    # Transitions ---------------------------------------------------------------------------------

    start = _transition(
        "start",
        _("Start"),
        _("Members start entering at the next tick (every minute) and move through the steps."),
        _("The journey is running."),
        services.journey_start,
    )
    pause = _transition(
        "pause",
        _("Pause"),
        _("Nobody enters or moves on until the journey is resumed."),
        _("The journey is paused."),
        services.journey_pause,
    )
    resume = _transition(
        "resume",
        _("Resume"),
        _("Entries and steps continue where they stopped."),
        _("The journey is running again."),
        services.journey_resume,
    )
    stop = _transition(
        "stop",
        _("Stop"),
        _("For good: every member still inside leaves the journey, and it cannot start again."),
        _("The journey is stopped."),
        services.journey_stop,
    )

    def get_actions_detail(self, request: HttpRequest, object_id: str) -> list[Any]:
        """Only the transitions the journey's status allows."""
        actions = super().get_actions_detail(request, object_id)
        journey = Journey.objects.filter(pk=object_id).only("status").first() if str(object_id).isdigit() else None
        if journey is None:
            return actions
        allowed = {name for name, statuses in JOURNEY_TRANSITION_FROM.items() if journey.status in statuses}
        if journey.status == JourneyStatus.STOPPED:
            allowed.discard("edit_steps")
        else:
            allowed.add("edit_steps")
        return [item for item in actions if item.action_name.removeprefix("journeys_journey_") in allowed]


@admin.register(Enrolment)
class EnrolmentAdmin(ModelAdmin):
    """Who is where: read-only, written by the engine alone."""

    list_display = ["member", "journey", "version", "entry_number", "state", "step", "due_at", "entered_at", "finished_at"]
    list_filter = ["state", "in_holdout", "journey"]
    # A version is shown with its journey's name: without its journey joined, each row read the journey again.
    list_select_related = ["member", "journey", "version__journey", "step"]
    raw_id_fields = ["member"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Enrolment | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Enrolment | None = None) -> bool:
        return False
