"""A journey's tick moving every member of its entry segment one step (a wait that has ended: a step run row, the
move to the next step, a ``journey.step`` outbox event per member, in chunks claimed with FOR UPDATE SKIP LOCKED),
beside the baseline of ONE hand-written statement doing the same writes for the same members: an UPDATE … RETURNING
that moves the enrolments, feeding an INSERT … SELECT of the step runs and one of the outbox events.

Each round builds two journeys on the same frozen segment and enters every member into both (not timed), then the
tick (``journey_tick``: the entry check over the segment, the exits, the due step in chunks) runs on one and the
statement on the other; which goes first alternates. The medians are reported, and after each round the rows both
wrote are counted and must match.
"""

import statistics
import time
import uuid
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from apps.campaigns.models import Segment
from apps.journeys import services
from apps.journeys.models import EntryKind, Journey, JourneyStep
from apps.journeys.steps import StepSpec
from apps.webhooks.models import WebhookEndpoint
from apps.webhooks.services import endpoint_create
from bench.campaign_run import _frozen_segment
from bench.data import ensure_members

SIZES = {"quick": 20_000, "full": 1_000_000}
ROUNDS = 3


def _entered_journey(segment: Segment) -> tuple[Journey, JourneyStep]:
    """A running journey (wait 1 day, wait 1 day) with every segment member entered and the first wait ended."""
    journey = services.journey_save(
        journey=Journey(name=f"{segment.name}-{uuid.uuid4().hex[:8]}", entry_kind=EntryKind.SEGMENT, entry_segment=segment)
    )
    services.journey_steps_save(journey=journey, steps=[StepSpec("wait", {"days": 1}), StepSpec("wait", {"days": 1})])
    services.journey_start(journey=journey)
    services.journey_enter(journey_id=journey.pk)
    first = JourneyStep.objects.get(version__journey=journey, position=1)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE journeys_enrolment SET due_at = now() - interval '1 minute' WHERE journey_id = %s", [journey.pk])
        cursor.execute("ANALYZE journeys_enrolment")
    return journey, first


def _tick(segment: Segment) -> tuple[float, Journey]:
    journey, _first = _entered_journey(segment)
    started = time.perf_counter()
    services.journey_tick(journey_id=journey.pk)
    return time.perf_counter() - started, journey


BASELINE_SQL = """
WITH moved AS (
    UPDATE journeys_enrolment SET step_id = %(next_step)s, due_at = %(now)s + interval '1 day'
    WHERE journey_id = %(journey)s AND step_id = %(step)s AND state = 'active' AND due_at <= %(now)s
    RETURNING id, member_id, entry_number
), runs AS (
    INSERT INTO journeys_steprun (enrolment_id, step_id, member_id, outcome, ran_at)
    SELECT id, %(step)s, member_id, 'passed', %(now)s FROM moved
    ON CONFLICT DO NOTHING
)
INSERT INTO core_outboxevent (event_id, type, member_id, occurred_at, payload, created_at)
SELECT gen_random_uuid(), 'journey.step', member_id, %(now)s,
       jsonb_build_object('journey_id', %(journey)s, 'version', 1, 'enrolment_id', id, 'entry_number', entry_number,
                          'member_id', member_id, 'step', 1, 'step_kind', 'wait', 'outcome', 'passed', 'ran_at', %(now_text)s),
       %(now)s
FROM moved
"""


def _baseline(segment: Segment) -> tuple[float, Journey]:
    journey, first = _entered_journey(segment)
    second = JourneyStep.objects.get(version=first.version, position=2)
    now = timezone.now()
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            BASELINE_SQL,
            {"journey": journey.pk, "step": first.pk, "next_step": second.pk, "now": now, "now_text": now.isoformat()},
        )
    return time.perf_counter() - started, journey


def _written(journey: Journey) -> dict[str, int]:
    """What a tick wrote for ``journey``: step runs, members moved to step 2, outbox events naming the journey."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT (SELECT count(*) FROM journeys_steprun r JOIN journeys_enrolment e ON e.id = r.enrolment_id WHERE e.journey_id = %s),
                   (SELECT count(*) FROM journeys_enrolment e JOIN journeys_journeystep s ON s.id = e.step_id
                    WHERE e.journey_id = %s AND s.position = 2),
                   (SELECT count(*) FROM core_outboxevent WHERE type = 'journey.step' AND (payload->>'journey_id')::bigint = %s)
            """,
            [journey.pk, journey.pk, journey.pk],
        )
        runs, moved, events = cursor.fetchone()
    return {"step_runs": runs, "moved": moved, "events": events}


def _cleanup() -> None:
    """Each round's rows go, so every round starts from the same tables."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_outboxevent WHERE type = 'journey.step'")
        cursor.execute("TRUNCATE journeys_steprun, journeys_enrolment")
        cursor.execute("ANALYZE core_outboxevent")


def run(size: str) -> list[dict[str, Any]]:
    count = SIZES[size]
    ensure_members(count)
    segment = _frozen_segment(count)
    if not WebhookEndpoint.objects.filter(is_active=True, event_types__contains=["journey.step"]).exists():
        # Nothing is delivered here: the endpoint only makes the tick write its events, as a subscribed product does.
        with override_settings(USEROPS_WEBHOOKS={**settings.USEROPS_WEBHOOKS, "ALLOW_LOCAL_URLS": True}):
            endpoint_create(name="bench journeys", url="http://127.0.0.1:9/journeys", event_types=["journey.step"], actor=None)
    ticks: list[float] = []
    baselines: list[float] = []
    for round_number in range(ROUNDS):
        order = [(_tick, ticks), (_baseline, baselines)]
        written = []
        for work, figures in order if round_number % 2 == 0 else reversed(order):
            seconds, journey = work(segment)
            figures.append(seconds)
            written.append(_written(journey))
        if written[0] != written[1] or written[0]["moved"] != count:
            raise AssertionError(f"the tick and the baseline wrote different rows: {written}")
        print(f"  round {round_number + 1}: tick {ticks[-1]:.2f} s, baseline {baselines[-1]:.2f} s, each wrote {written[0]}", flush=True)
        _cleanup()
    return [
        {
            "name": "journey tick moving a segment one step",
            "figure": round(statistics.median(ticks), 2),
            "unit": "s/tick",
            "baseline": round(statistics.median(baselines), 2),
            "baseline_name": "one UPDATE … RETURNING feeding INSERT … SELECTs, the same writes",
            "size": (
                f"{count:,} members, chunks of {settings.USEROPS_JOURNEYS['CHUNK_SIZE']:,}, step run + move + outbox event each, "
                f"median of {ROUNDS} alternating rounds"
            ),
        }
    ]
