"""The one place feedback rows are locked: an item alone (it is the only row its services change)."""

from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.feedback.models import FeedbackItem


def lock_feedback_item(*, item_id: int) -> FeedbackItem:
    item = FeedbackItem.objects.select_for_update().filter(pk=item_id).first()
    if item is None:
        raise ApplicationError("not_found", _("No such feedback item."), http_status=404)
    return item
