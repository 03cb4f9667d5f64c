"""The rows abuse control locks, in one place: a limit or a blocklist entry being edited by staff.

Neither is on the product's main lock path (campaign → … → points account); the award screen only reads them.
"""

from apps.abuse.models import BlockEntry, VelocityLimit


def lock_limit(*, limit_id: int) -> VelocityLimit:
    return VelocityLimit.objects.select_for_update().get(pk=limit_id)


def lock_block(*, block_id: int) -> BlockEntry:
    return BlockEntry.objects.select_for_update().get(pk=block_id)
