"""Local days: analytics counts by the days of ``USEROPS_ANALYTICS["TIME_ZONE"]`` (Asia/Shanghai by default)."""

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings


def config(key: str) -> Any:
    return settings.USEROPS_ANALYTICS[key]


def local_zone() -> ZoneInfo:
    return ZoneInfo(config("TIME_ZONE"))


def day_start(day: date) -> datetime:
    """The UTC-aware instant a local day begins."""
    return datetime(day.year, day.month, day.day, tzinfo=local_zone())
