import pytest
from django.urls import reverse

from apps.core import services
from apps.core.errors import ApplicationError
from apps.core.masking import mask_birthday, mask_email, mask_phone
from apps.core.models import ApiClient, ApiScope, hash_secret
from apps.core.roles import ANALYST, CUSTOMER_SERVICE, OPERATIONS_MANAGER

pytestmark = pytest.mark.django_db


def test_api_client_key_is_stored_hashed_and_shown_once():
    client, key = services.api_client_create(name="POS", scopes=[ApiScope.POINTS_WRITE])
    assert client.key_hash == hash_secret(key) and key not in (client.key_hash, client.key_prefix)
    assert key.startswith(client.key_prefix + ".")
    new_key = services.api_client_rotate_key(client=client)
    client.refresh_from_db()
    assert new_key != key and client.key_hash == hash_secret(new_key)


def test_api_client_refuses_unknown_scope_and_duplicate_name():
    with pytest.raises(ApplicationError) as error:
        services.api_client_create(name="POS", scopes=["everything"])
    assert error.value.code == "invalid_scope"
    services.api_client_create(name="POS", scopes=[])
    with pytest.raises(ApplicationError):
        services.api_client_create(name="POS", scopes=[])


def test_roles_exist_with_their_permissions(django_user_model, staff):
    manager, agent, analyst = staff(OPERATIONS_MANAGER), staff(CUSTOMER_SERVICE), staff(ANALYST)
    assert manager.has_perm("members.adjust_points_unlimited") and manager.has_perm("members.view_member_pii")
    assert agent.has_perm("members.adjust_points") and not agent.has_perm("members.adjust_points_unlimited")
    assert analyst.has_perm("members.view_member") and not analyst.has_perm("members.view_member_pii")
    assert not analyst.has_perm("members.change_member")


def test_masking():
    assert mask_phone("+8613800138000") == "+86138****8000"
    assert mask_email("zhang.wei@example.com") == "z***@example.com"
    assert mask_birthday(None) == ""


def test_language_choice_is_remembered_per_user(client, staff):
    user = staff(OPERATIONS_MANAGER)
    client.force_login(user)
    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/admin/"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.language == "zh-hans"


def test_api_client_admin_creates_and_edits_through_services(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    response = client.post(
        reverse("admin:core_apiclient_add"), {"name": "Dealer", "scopes": ["members:read"], "is_active": "on"}, follow=True
    )
    assert "copy it now" in response.content.decode()
    dealer = ApiClient.objects.get(name="Dealer")
    client.post(reverse("admin:core_apiclient_change", args=[dealer.pk]), {"name": "Dealer", "scopes": ["members:read", "points:write"]})
    dealer.refresh_from_db()
    assert dealer.scopes == ["members:read", "points:write"] and dealer.is_active is False


def test_health(client):
    assert client.get("/health/").json() == {"status": "ok"}
