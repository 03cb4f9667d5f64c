"""What a run does to each member of a chunk: every rule checked once for the whole chunk."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.campaigns.models import ActionOutcome, CampaignAction, CampaignRun, SegmentMember
from apps.campaigns.selectors import run_chunk_outcomes, segment_members
from apps.members.models import ConsentChannel, MemberStatus
from apps.members.selectors import active_member_ids, member_ids_with_consent
from apps.messaging.models import MessagePurpose
from tests.campaigns.factories import CampaignFactory, SegmentFactory
from tests.members.factories import ConsentFactory, MemberFactory

pytestmark = pytest.mark.django_db


def test_members_selectors_answer_for_the_ids_asked_only():
    active, frozen, closed = MemberFactory(), MemberFactory(status=MemberStatus.FROZEN), MemberFactory(status=MemberStatus.CLOSED)
    ConsentFactory(member=active, channel=ConsentChannel.SMS, granted=True)
    ConsentFactory(member=frozen, channel=ConsentChannel.SMS, granted=False)
    ConsentFactory(member=closed, channel=ConsentChannel.EMAIL, granted=True)
    other = MemberFactory()
    ids = [active.pk, frozen.pk, closed.pk]
    assert active_member_ids(member_ids=ids) == {active.pk}
    assert member_ids_with_consent(member_ids=ids, channel=ConsentChannel.SMS) == {active.pk}
    assert member_ids_with_consent(member_ids=ids, channel=ConsentChannel.EMAIL) == {closed.pk}
    assert other.pk not in active_member_ids(member_ids=ids)


def test_each_member_gets_the_first_rule_that_skips_it():
    now = timezone.now()
    frozen = MemberFactory(status=MemberStatus.FROZEN)
    members = MemberFactory.create_batch(30)
    campaign = CampaignFactory(points_amount=None, message_template_code="promo", message_channel=ConsentChannel.SMS, holdout_percent=30)
    assert campaign.message_purpose == MessagePurpose.MARKETING
    for member in members[:20]:
        ConsentFactory(member=member, channel=ConsentChannel.SMS, granted=True)
    earlier = CampaignRun.objects.create(campaign=CampaignFactory())
    capped = members[0]
    for _ in range(4):  # the default cap: 4 actions in 30 days
        CampaignAction.objects.create(
            run=CampaignRun.objects.create(campaign=earlier.campaign),
            campaign=earlier.campaign,
            member=capped,
            outcome="acted",
            created_at=now,
        )
    ids = [frozen.pk, *(member.pk for member in members)]
    outcomes = run_chunk_outcomes(campaign=campaign, member_ids=ids, now=now)
    assert outcomes[ActionOutcome.MEMBER_FROZEN] == [frozen.pk]
    held_out = set(outcomes[ActionOutcome.HELD_OUT])
    assert held_out and frozen.pk not in held_out
    without_consent = {member.pk for member in members[20:]} - held_out
    assert set(outcomes[ActionOutcome.NO_CONSENT]) == without_consent
    expected_capped = [] if capped.pk in held_out else [capped.pk]
    assert outcomes[ActionOutcome.CAP_REACHED] == expected_capped
    assert sorted(pk for found in outcomes.values() for pk in found) == sorted(ids)
    # The same draw for the same campaign: a re-run holds out the same members.
    assert set(run_chunk_outcomes(campaign=campaign, member_ids=ids, now=now)[ActionOutcome.HELD_OUT]) == held_out


def test_old_actions_do_not_count_towards_the_cap():
    member = MemberFactory()
    other = CampaignFactory()
    long_ago = timezone.now() - timedelta(days=31)
    for _ in range(4):
        run = CampaignRun.objects.create(campaign=other)
        CampaignAction.objects.create(run=run, campaign=other, member=member, outcome="acted", created_at=long_ago)
    outcomes = run_chunk_outcomes(campaign=CampaignFactory(), member_ids=[member.pk], now=timezone.now())
    assert outcomes[ActionOutcome.ACTED] == [member.pk]


def test_the_rules_cost_the_same_queries_for_a_chunk_of_any_size():
    def queries_for(count):
        ids = [member.pk for member in MemberFactory.create_batch(count)]
        campaign = CampaignFactory(points_amount=None, message_template_code="promo", message_channel=ConsentChannel.SMS)
        with CaptureQueriesContext(connection) as captured:
            run_chunk_outcomes(campaign=campaign, member_ids=ids, now=timezone.now())
        return len(captured)

    assert queries_for(2) == queries_for(40) == 3  # active members, consents, frequency cap


def test_a_frozen_snapshot_is_read_from_the_cursor_on():
    members = MemberFactory.create_batch(6)
    segment = SegmentFactory()
    SegmentMember.objects.bulk_create([SegmentMember(segment=segment, member=member) for member in members])
    segment.frozen_at, segment.frozen_count = timezone.now(), 6
    segment.save()
    cursor = members[2].pk
    after = list(segment_members(segment=segment, after=cursor).order_by("pk").values_list("pk", flat=True))
    assert after == [member.pk for member in members[3:]]
    assert segment_members(segment=segment).count() == 6
