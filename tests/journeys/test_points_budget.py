"""A journey's points budget: exact across chunks, ticks and racing workers; members beyond it skipped with a reason;
points steps saved only by staff who may run journeys."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from apps.core.errors import ApplicationError
from apps.core.roles import CAMPAIGN_MANAGER
from apps.journeys import selectors, services
from apps.journeys.models import EnrolmentState, Journey, JourneyPointsUsage, JourneyVersion, StepOutcome, StepRun
from apps.journeys.steps import StepSpec
from apps.members.models import MemberStatus, PointsAccount
from tests.campaigns.factories import SegmentFactory
from tests.journeys.factories import JourneyFactory, running_journey, wait
from tests.members.factories import MemberFactory, TagFactory
from tests.members.test_concurrency import run_at_once


def lead_segment(count: int) -> tuple[object, list]:
    tag = TagFactory(name="budget-lead")
    members = MemberFactory.create_batch(count)
    for member in members:
        member.tags.add(tag)
    return SegmentFactory(rules={"op": "and", "conditions": [{"field": "tags", "value": ["budget-lead"]}]}), members


def points_journey(count: int, *, points: int, budget: int | None) -> tuple[Journey, list]:
    segment, members = lead_segment(count)
    journey = running_journey([StepSpec("points", {"points": points}), wait(days=1)], entry_segment=segment, points_budget=budget)
    return journey, members


def paid(members: list) -> int:
    return sum(PointsAccount.objects.filter(member__in=members).values_list("balance", flat=True))


def outcomes(journey: Journey) -> dict[str, int]:
    runs = StepRun.objects.filter(enrolment__journey=journey, step__kind="points")
    return {outcome: runs.filter(outcome=outcome).count() for outcome in (StepOutcome.DONE, StepOutcome.NO_BUDGET)}


@pytest.mark.django_db
def test_members_beyond_the_budget_are_skipped_with_a_reason_and_still_move_on():
    journey, members = points_journey(5, points=200, budget=500)
    services.journey_tick(journey_id=journey.pk, chunk_size=2)

    assert paid(members) == 400
    assert outcomes(journey) == {StepOutcome.DONE: 2, StepOutcome.NO_BUDGET: 3}
    assert JourneyPointsUsage.objects.get(journey=journey).points_awarded == 400
    # Skipped members go on to the next step like the paid ones.
    assert set(journey.enrolments.values_list("step__position", flat=True)) == {2}
    assert set(journey.enrolments.values_list("state", flat=True)) == {EnrolmentState.ACTIVE}


@pytest.mark.django_db
def test_a_member_the_ledger_leaves_out_costs_nothing_and_the_next_member_gets_the_points():
    journey, members = points_journey(3, points=200, budget=400)
    services.journey_enter(journey_id=journey.pk)
    first = journey.enrolments.order_by("pk").first().member
    first.status = MemberStatus.FROZEN
    first.save(update_fields=["status"])

    services.journey_tick(journey_id=journey.pk)

    balances = dict(PointsAccount.objects.filter(member__in=members).values_list("member_id", "balance"))
    assert balances[first.pk] == 0 and sum(balances.values()) == 400
    assert JourneyPointsUsage.objects.get(journey=journey).points_awarded == 400
    assert outcomes(journey) == {StepOutcome.DONE: 3, StepOutcome.NO_BUDGET: 0}


@pytest.mark.django_db
def test_the_budget_spans_ticks_and_versions_and_no_budget_means_no_limit():
    journey, members = points_journey(2, points=100, budget=300)
    services.journey_tick(journey_id=journey.pk)
    assert paid(members) == 200

    more = MemberFactory.create_batch(2)
    for member in more:
        member.tags.add(*members[0].tags.all())
    services.journey_steps_save(journey=journey, steps=[StepSpec("points", {"points": 100}), wait(days=1)])
    services.journey_tick(journey_id=journey.pk)
    assert JourneyVersion.objects.filter(journey=journey).count() == 2
    assert paid(more) == 100
    assert JourneyPointsUsage.objects.get(journey=journey).points_awarded == 300

    unlimited = running_journey([StepSpec("points", {"points": 100})], entry_segment=journey.entry_segment)
    services.journey_tick(journey_id=unlimited.pk)
    assert JourneyPointsUsage.objects.get(journey=unlimited).points_awarded == 400
    assert outcomes(unlimited) == {StepOutcome.DONE: 4, StepOutcome.NO_BUDGET: 0}


@pytest.mark.django_db
def test_a_budget_below_what_was_awarded_is_refused_on_its_field_and_nothing_changes():
    journey, _members = points_journey(3, points=100, budget=1000)
    services.journey_tick(journey_id=journey.pk)
    journey.points_budget = 299
    with pytest.raises(ApplicationError) as refused:
        services.journey_save(journey=journey)
    assert refused.value.code == "budget_below_awarded"
    assert "300 points" in refused.value.message and "points_budget" in refused.value.fields
    assert Journey.objects.get(pk=journey.pk).points_budget == 1000
    journey.points_budget = 300
    assert services.journey_save(journey=journey).points_budget == 300


@pytest.mark.django_db(transaction=True)
def test_racing_ticks_never_pay_past_the_budget():
    journey, members = points_journey(30, points=100, budget=1000)
    services.journey_enter(journey_id=journey.pk)

    run_at_once(lambda index: str(services.journey_tick(journey_id=journey.pk, chunk_size=4).processed), threads=2)

    assert paid(members) == 1000
    assert JourneyPointsUsage.objects.get(journey=journey).points_awarded == 1000
    assert outcomes(journey) == {StepOutcome.DONE: 10, StepOutcome.NO_BUDGET: 20}
    assert PointsAccount.objects.filter(member__in=members, balance=100).count() == 10


@pytest.mark.django_db
def test_only_staff_who_may_run_journeys_save_a_points_step(staff):
    journey = JourneyFactory()
    builder = staff()
    builder.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="journeys", codename__in=["add_journey", "change_journey", "view_journey"])
    )
    with pytest.raises(ApplicationError) as refused:
        services.journey_steps_save(journey=journey, steps=[wait(days=1), StepSpec("points", {"points": 50})], actor=builder)
    assert refused.value.code == "points_step_needs_run_right"
    assert "Step 2" in refused.value.message and "step_2.points" in refused.value.fields
    assert not JourneyVersion.objects.filter(journey=journey).exists()

    # Steps without points are theirs to save; points need the right that starts a journey.
    services.journey_steps_save(journey=journey, steps=[wait(days=1)], actor=builder)
    services.journey_steps_save(journey=journey, steps=[StepSpec("points", {"points": 50})], actor=staff(CAMPAIGN_MANAGER))


@pytest.mark.django_db
def test_the_journey_page_shows_the_budget_used_and_the_members_skipped(client, staff):
    journey, _members = points_journey(3, points=100, budget=200)
    services.journey_tick(journey_id=journey.pk)
    figures = selectors.journey_figures(journey=journey)
    assert (figures.points_awarded, figures.points_budget) == (200, 200)
    ((_version, steps),) = figures.versions
    assert (steps[0].passed, steps[0].skipped_budget) == (3, 1)

    client.force_login(staff(CAMPAIGN_MANAGER))
    page = client.get(reverse("admin:journeys_journey_change", args=[journey.pk])).content.decode()
    assert 'data-testid="points-budget"' in page
    assert 'data-figure="skipped_budget">1<' in page


@pytest.mark.django_db
def test_the_journey_form_refuses_a_budget_below_what_was_awarded_on_its_field(client, staff):
    journey, _members = points_journey(2, points=100, budget=500)
    services.journey_tick(journey_id=journey.pk)
    client.force_login(staff(CAMPAIGN_MANAGER))
    url = reverse("admin:journeys_journey_change", args=[journey.pk])
    form = client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name in form.fields}
    data.update(entry_properties="{}", entry_segment=journey.entry_segment_id, points_budget="150")
    refused = client.post(url, data)
    assert refused.status_code == 200
    assert "200 points" in str(refused.context["adminform"].form.errors["points_budget"])
    assert Journey.objects.get(pk=journey.pk).points_budget == 500


@pytest.mark.django_db
def test_the_steps_editor_refuses_a_points_step_to_staff_who_may_not_run_journeys(client, staff):
    journey = JourneyFactory()
    builder = staff()
    builder.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="journeys", codename__in=["change_journey", "view_journey"])
    )
    client.force_login(builder)
    url = reverse("admin:journeys_journey_steps", args=[journey.pk])
    rows = {"form-TOTAL_FORMS": "2", "form-INITIAL_FORMS": "0", "form-MIN_NUM_FORMS": "0", "form-MAX_NUM_FORMS": "30"}
    rows.update({"form-0-kind": "wait", "form-0-days": "1", "form-1-kind": "points", "form-1-points": "100"})
    refused = client.post(url, rows)
    assert refused.status_code == 200
    assert "start journeys" in str(refused.context["formset"].forms[1].errors["points"])
    assert not JourneyVersion.objects.filter(journey=journey).exists()
