"""The one place sales' rows are locked.

A product is locked alone or after the members a caller holds (a merge locks both members, then moves ownerships):
member → product, never the other way. Transfers of one product queue on its row.
"""

from apps.sales.models import OwnedProduct


def lock_product(*, product_id: int) -> OwnedProduct:
    return OwnedProduct.objects.select_for_update(of=("self",)).select_related("kind", "dealer").get(pk=product_id)


def lock_products_of(*, member_id: int) -> list[OwnedProduct]:
    return list(OwnedProduct.objects.select_for_update().filter(owner_id=member_id).order_by("pk"))
