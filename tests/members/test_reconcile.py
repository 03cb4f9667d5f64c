import pytest
from django.core.management import CommandError, call_command

from apps.members import services
from apps.members.models import PointsAccount
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_reconciliation_passes_on_true_books_and_names_a_broken_account(capsys):
    member = MemberFactory()
    services.points_earn(member=member, amount=300, reason="Purchase")
    services.points_spend(member=member, amount=120, reason="Mall")
    call_command("reconcile_points")
    assert "All points accounts reconcile" in capsys.readouterr().out
    PointsAccount.objects.filter(member=member).update(balance=999)
    with pytest.raises(CommandError, match="1 points accounts"):
        call_command("reconcile_points")
    assert f"account {member.points_account.pk}: balance 999, ledger 180, lots 180" in capsys.readouterr().err
