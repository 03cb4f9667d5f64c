"""The rows this app locks. A member is locked through members' locks (member → its identities, lock order)."""

from apps.identities.models import SubscriptionQuota


def lock_subscription_quota(*, member_id: int, template_id: str) -> SubscriptionQuota | None:
    return SubscriptionQuota.objects.select_for_update().filter(member_id=member_id, template_id=template_id).first()
