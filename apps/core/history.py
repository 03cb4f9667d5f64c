from typing import Any

from django.contrib.auth import get_user_model
from simple_history.models import HistoricalRecords


def history_user(request: Any = None, **kwargs: Any) -> Any:
    """Only staff users are recorded as authors; API clients and member tokens leave the field empty."""
    user = getattr(request, "user", None)
    if isinstance(user, get_user_model()) and user.is_authenticated:
        return user
    return None


def AuditHistory(**kwargs: Any) -> HistoricalRecords:  # noqa: N802 - reads like the field it builds
    """The audit trail of a model: who changed what, when, before and after."""
    return HistoricalRecords(get_user=history_user, **kwargs)
