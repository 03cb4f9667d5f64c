import pytest

from apps.analytics.models import ActivityEvent, DailyMetric, RfmScore
from apps.benefits.models import Grant
from apps.campaigns.models import Campaign, CampaignStatus, RunStatus
from apps.events.models import Event, Registration
from apps.members.models import Member
from apps.members.selectors import points_discrepancies
from fixtures import demo

pytestmark = pytest.mark.django_db


def test_the_demo_programme_has_something_true_on_every_page(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    demo.load(members=150)

    assert Member.objects.count() == 150
    assert Grant.objects.filter(state="redeemed").exists() and Grant.objects.filter(state="issued").exists()
    assert Event.objects.filter(status="finished").exists() and Registration.objects.filter(state="attended").exists()
    campaigns = Campaign.objects.all()
    assert campaigns.count() == 2 and {c.status for c in campaigns} == {CampaignStatus.SCHEDULED}
    assert all(c.periodic_task is not None and c.runs.get().status == RunStatus.COMPLETED for c in campaigns)
    birthday_run = Campaign.objects.get(name="Birthday month bonus").runs.get()
    assert birthday_run.acted > 0 and birthday_run.points_awarded == 500 * birthday_run.acted
    assert not list(points_discrepancies())
    assert ActivityEvent.objects.filter(kind="purchase").exists() and DailyMetric.objects.exists()
    assert RfmScore.objects.count() == 150
    assert "X-Api-Key" in (tmp_path / "demo-credentials.txt").read_text()

    demo.load(members=150)
    assert Member.objects.count() == 150 and Campaign.objects.count() == 2
