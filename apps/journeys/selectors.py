"""Reads of journeys: the journey page's figures, a member's journey steps (timeline, PIPL export)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q

from apps.journeys.models import (
    Enrolment,
    EnrolmentState,
    Journey,
    JourneyPointsUsage,
    JourneyStep,
    JourneyVersion,
    StepOutcome,
    StepRun,
)
from apps.members.models import Member
from apps.members.timeline import TimelineItem, TimelineRow, choice_labels, object_links

TIMELINE_SOURCE = "journey_steps"


@dataclass
class StepFigures:
    step: JourneyStep
    waiting: int = 0
    passed: int = 0
    yes: int = 0
    no: int = 0
    skipped_budget: int = 0
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
    points_awarded: int = 0
    points_budget: int | None = None
    versions: list[tuple[JourneyVersion, list[StepFigures]]] = field(default_factory=list)

    @property
    def uplift(self) -> float | None:
        """Treated minus holdout conversion, in percentage points (None without both groups)."""
        if self.treated.conversion is None or self.holdout.conversion is None:
            return None
        return round(self.treated.conversion - self.holdout.conversion, 1)


def journey_figures(*, journey: Journey) -> JourneyFigures:
    """Per step: waiting (active members due there), passed, branched yes/no, skipped for a spent points budget, and
    converted (passed the step, then reached the goal); per group: entrants and conversions of the treated members
    against the holdout; the points awarded against the budget."""
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
            skipped_budget=Count("pk", filter=Q(outcome=StepOutcome.NO_BUDGET)),
            converted=Count("pk", filter=Q(enrolment__state=EnrolmentState.CONVERTED)),
        )
    )
    by_step = {row["step_id"]: row for row in runs}
    awarded = JourneyPointsUsage.objects.filter(journey=journey).values_list("points_awarded", flat=True).first() or 0
    figures = JourneyFigures(
        treated=treated, holdout=holdout, by_state=by_state, points_awarded=awarded, points_budget=journey.points_budget
    )
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
                    skipped_budget=run.get("skipped_budget", 0),
                    converted=run.get("converted", 0),
                )
            )
        figures.versions.append((version, rows))
    return figures


def member_journey_steps(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    """A page of the member's journey steps as timeline items."""
    kind_label, outcome_label = choice_labels(JourneyStep, "kind"), choice_labels(StepRun, "outcome")
    link_to = object_links("admin:journeys_journey_change")
    return [
        row.item(
            kind=row["kind"],
            title=f"{row['journey']} · {row['position']}. {kind_label(row['kind'])}",
            detail=outcome_label(row["outcome"]),
            link=link_to(row["journey_id"]),
            data={"journey_id": row["journey_id"], "step": row["position"], "outcome": row["outcome"]},
        )
        for row in rows
    ]


STEP_COLUMNS = {
    "kind": "step__kind",
    "position": "step__position",
    "journey": "step__version__journey__name",
    "journey_id": "step__version__journey_id",
    "outcome": "outcome",
}


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
