"""Reads of journeys: the journey page's figures, a member's journey steps (timeline, PIPL export)."""

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q
from django.urls import reverse

from apps.journeys.models import (
    Enrolment,
    EnrolmentState,
    Journey,
    JourneyStep,
    JourneyVersion,
    StepOutcome,
    StepRun,
)
from apps.members.models import Member
from apps.members.timeline import TimelineCursor, TimelineItem

TIMELINE_SOURCE = "journey_steps"


@dataclass
class StepFigures:
    step: JourneyStep
    waiting: int = 0
    passed: int = 0
    yes: int = 0
    no: int = 0
    converted: int = 0


@dataclass
class GroupFigures:
    """Entrants of one group (treated or holdout) and how many of them converted."""

    entered: int = 0
    converted: int = 0
    timed_out: int = 0

    @property
    def conversion(self) -> float | None:
        return round(100 * self.converted / self.entered, 1) if self.entered else None


@dataclass
class JourneyFigures:
    treated: GroupFigures
    holdout: GroupFigures
    by_state: dict[str, int]
    versions: list[tuple[JourneyVersion, list[StepFigures]]] = field(default_factory=list)

    @property
    def uplift(self) -> float | None:
        """Treated minus holdout conversion, in percentage points (None without both groups)."""
        if self.treated.conversion is None or self.holdout.conversion is None:
            return None
        return round(self.treated.conversion - self.holdout.conversion, 1)


def journey_figures(*, journey: Journey) -> JourneyFigures:
    """Per step: waiting (active members due there), passed, branched yes/no, and converted (passed the step, then
    reached the goal); per group: entrants and conversions of the treated members against the holdout."""
    enrolments = Enrolment.objects.filter(journey=journey)
    groups = enrolments.values("in_holdout").annotate(
        entered=Count("pk"),
        converted=Count("pk", filter=Q(state=EnrolmentState.CONVERTED)),
        timed_out=Count("pk", filter=Q(state=EnrolmentState.TIMED_OUT)),
    )
    treated, holdout = GroupFigures(), GroupFigures()
    for row in groups:
        target = holdout if row["in_holdout"] else treated
        target.entered, target.converted, target.timed_out = row["entered"], row["converted"], row["timed_out"]
    by_state = dict(enrolments.values_list("state").annotate(n=Count("pk")).values_list("state", "n"))
    waiting = dict(
        enrolments.filter(state=EnrolmentState.ACTIVE).values_list("step_id").annotate(n=Count("pk")).values_list("step_id", "n")
    )
    runs = (
        StepRun.objects.filter(step__version__journey=journey)
        .values("step_id")
        .annotate(
            passed=Count("pk"),
            yes=Count("pk", filter=Q(outcome=StepOutcome.YES)),
            no=Count("pk", filter=Q(outcome=StepOutcome.NO)),
            converted=Count("pk", filter=Q(enrolment__state=EnrolmentState.CONVERTED)),
        )
    )
    by_step = {row["step_id"]: row for row in runs}
    figures = JourneyFigures(treated=treated, holdout=holdout, by_state=by_state)
    for version in journey.versions.order_by("-number").prefetch_related("steps"):
        rows = []
        for step in version.steps.all():
            run = by_step.get(step.pk, {})
            rows.append(
                StepFigures(
                    step=step,
                    waiting=waiting.get(step.pk, 0),
                    passed=run.get("passed", 0),
                    yes=run.get("yes", 0),
                    no=run.get("no", 0),
                    converted=run.get("converted", 0),
                )
            )
        figures.versions.append((version, rows))
    return figures


def member_journey_steps(*, member: Member, before: TimelineCursor | None, limit: int) -> list[TimelineItem]:
    """The member's journey steps older than ``before`` (by time, source, id), newest first — the timeline source."""
    runs = StepRun.objects.filter(member=member)
    if before is not None:
        same_time = Q(ran_at=before.at, id__lt=before.item_id) if before.source == TIMELINE_SOURCE else Q(ran_at=before.at)
        if before.source < TIMELINE_SOURCE:
            same_time = Q(pk__in=[])
        runs = runs.filter(Q(ran_at__lt=before.at) | same_time)
    runs = runs.select_related("step", "step__version__journey").order_by("-ran_at", "-id")[:limit]
    return [
        TimelineItem(
            at=run.ran_at,
            source=TIMELINE_SOURCE,
            item_id=run.pk,
            kind=run.step.kind,
            title=f"{run.step.version.journey.name} · {run.step}",
            detail=run.get_outcome_display(),
            link=reverse("admin:journeys_journey_change", args=[run.step.version.journey_id]),
            data={"journey_id": run.step.version.journey_id, "step": run.step.position, "outcome": run.outcome},
        )
        for run in runs
    ]


def member_journeys_export(member: Member) -> list[dict[str, Any]]:
    """Every journey the member entered and each step passed, for the PIPL data export."""
    enrolments = Enrolment.objects.filter(member=member).select_related("journey", "version").order_by("entered_at", "id")
    runs: dict[int, list[dict[str, Any]]] = {}
    for run in StepRun.objects.filter(member=member).select_related("step").order_by("ran_at", "id"):
        runs.setdefault(run.enrolment_id, []).append(
            {"step": run.step.position, "kind": run.step.kind, "outcome": run.outcome, "at": run.ran_at.isoformat()}
        )
    return [
        {
            "journey": enrolment.journey.name,
            "version": enrolment.version.number,
            "entry": enrolment.entry_number,
            "state": enrolment.state,
            "held_out": enrolment.in_holdout,
            "entered_at": enrolment.entered_at.isoformat(),
            "left_at": enrolment.finished_at.isoformat() if enrolment.finished_at else None,
            "steps": runs.get(enrolment.pk, []),
        }
        for enrolment in enrolments
    ]
