"""The journey events sales records and announces; the codes are activity kinds, so rules and stages react to them."""

from django.utils.translation import gettext_lazy as _

LEAD_CREATED = "lead_created"
TEST_DRIVE_BOOKED = "test_drive_booked"
TEST_DRIVE_COMPLETED = "test_drive_completed"
ORDER_PLACED = "order_placed"
ORDER_CANCELLED = "order_cancelled"
DELIVERED = "delivered"
SERVICE_VISIT = "service_visit"
RENEWAL = "renewal"

# What staff record on a member's page (a delivery also creates the product).
RECORDABLE = [
    (TEST_DRIVE_BOOKED, _("Test drive booked")),
    (TEST_DRIVE_COMPLETED, _("Test drive completed")),
    (ORDER_PLACED, _("Order placed")),
    (ORDER_CANCELLED, _("Order cancelled")),
    (DELIVERED, _("Delivered")),
    (SERVICE_VISIT, _("Service visit")),
    (RENEWAL, _("Renewal")),
]
