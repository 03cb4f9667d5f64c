"""Send policy: which channels a message may take, when, and how often a member hears from us.

- **Frequency caps**: at most ``CAP_PER_DAY`` / ``CAP_PER_WEEK`` capped messages per member across every channel,
  counted per calendar day / week (Monday first) in the messaging time zone. Marketing messages are capped; service
  messages only when ``CAP_SERVICE_MESSAGES`` is on. A message counts while it is queued, sent or delivered (a
  failed one does not, so its fallback takes its place). 0 switches a cap off.
- **Quiet hours per channel**: ``QUIET_HOURS_BY_CHANNEL`` (``sms=21:00-08:00,email=off``); a channel not named
  there uses the global ``QUIET_HOURS``. Marketing messages due inside a channel's window wait for its end.
- **Fallback order per message kind** (template code): ``FALLBACK_ORDER`` (``{"event_reminder": ["mini_program",
  "sms"]}``). The first channel the member can be reached on is used; when its provider gives up or is not
  configured, the next is tried. A channel is passed over when the member has no consent for it (marketing), no
  identity on it (no phone for SMS, no address for email, or what a later app's ``register_channel_check`` says,
  e.g. no openid or no subscription quota), or it has no active template of that code.
Channel codes are plain strings so channels added later slot in.
"""

from collections.abc import Callable, Iterable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Q

from apps.members.models import ConsentChannel, Member

# A check says why the member cannot get this kind of message on the channel, or None.
ChannelCheck = Callable[[Member, str], str | None]

NO_IDENTITY = "no_identity"
FREQUENCY_CAP = "frequency_cap"

_channel_checks: dict[str, list[ChannelCheck]] = {}


def register_channel_check(channel: str, check: ChannelCheck) -> None:
    """Add a reason a member may not be reached on ``channel`` (identity missing, subscription quota used up …)."""
    _channel_checks.setdefault(channel, []).append(check)


def _phone(member: Member, template_code: str) -> str | None:
    return None if member.phone else NO_IDENTITY


def _email(member: Member, template_code: str) -> str | None:
    return None if member.email else NO_IDENTITY


register_channel_check(ConsentChannel.SMS, _phone)
register_channel_check(ConsentChannel.EMAIL, _email)


def _config(key: str, default: Any = None) -> Any:
    return settings.USEROPS_MESSAGING.get(key, default)


def known_channels() -> list[str]:
    """Every channel members can consent to (later apps widen the enum), plus any named in the provider settings."""
    channels = list(ConsentChannel.values)
    for channel in _config("CHANNEL_PROVIDERS") or {}:
        if channel not in channels:
            channels.append(channel)
    return channels


def channel_check(*, member: Member, channel: str, template_code: str) -> str | None:
    for check in _channel_checks.get(channel, []):
        if (reason := check(member, template_code)) is not None:
            return reason
    return None


def fallback_order(template_code: str, channel: str | None = None) -> list[str]:
    """The channels to try for this kind of message, in order; the given channel alone when none is configured."""
    order = list((_config("FALLBACK_ORDER") or {}).get(template_code) or [])
    if channel and channel not in order:
        order.insert(0, channel)
    return order


# Quiet hours -----------------------------------------------------------------------------------------


def _clock(value: str) -> time:
    hours, minutes = value.strip().split(":")
    return time(int(hours), int(minutes))


def parse_window(value: Any) -> tuple[time, time] | None:
    """``"21:00-08:00"`` or ``["21:00", "08:00"]`` → (start, end); empty / ``off`` → None."""
    if not value or value == "off":
        return None
    parts = value.split("-") if isinstance(value, str) else list(value)
    if len(parts) != 2:
        raise ValueError(f"quiet hours must be two times, start and end: {value!r}")
    return _clock(parts[0]), _clock(parts[1])


def quiet_hours_window(channel: str) -> tuple[time, time] | None:
    by_channel = _config("QUIET_HOURS_BY_CHANNEL") or {}
    return parse_window(by_channel[channel] if channel in by_channel else _config("QUIET_HOURS"))


def quiet_hours_end(now: datetime, channel: str = ConsentChannel.SMS) -> datetime | None:
    """When the channel's quiet hours around ``now`` end, or None outside them."""
    window = quiet_hours_window(channel)
    if window is None:
        return None
    start, end = window
    local = now.astimezone(messaging_zone())
    current = local.time()
    inside = start <= current < end if start <= end else (current >= start or current < end)
    if not inside:
        return None
    ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends


# Frequency caps --------------------------------------------------------------------------------------


def messaging_zone() -> ZoneInfo:
    return ZoneInfo(_config("QUIET_HOURS_TIME_ZONE") or settings.TIME_ZONE)


def capped_purposes() -> list[str]:
    return ["marketing", "service"] if _config("CAP_SERVICE_MESSAGES") else ["marketing"]


def caps_apply(purpose: str) -> bool:
    """Whether messages of this purpose are capped at all (a cap is set and the purpose counts)."""
    return purpose in capped_purposes() and bool(int(_config("CAP_PER_DAY") or 0) or int(_config("CAP_PER_WEEK") or 0))


def cap_windows(now: datetime) -> tuple[datetime, datetime]:
    """Start of the local day and of the local week (Monday) around ``now``."""
    local = now.astimezone(messaging_zone())
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day - timedelta(days=local.weekday())


def members_over_cap(*, member_ids: Iterable[int], purpose: str, now: datetime) -> set[int]:
    """Those of the members who may get no further message of this purpose now (one query)."""
    if not caps_apply(purpose):
        return set()
    day_cap, week_cap = int(_config("CAP_PER_DAY") or 0), int(_config("CAP_PER_WEEK") or 0)
    from apps.messaging.models import Message, MessageState

    day, week = cap_windows(now)
    rows = (
        Message.objects.filter(member_id__in=list(member_ids), purpose__in=capped_purposes(), created_at__gte=week)
        .exclude(state=MessageState.FAILED)
        .values("member_id")
        .annotate(week=Count("id"), day=Count("id", filter=Q(created_at__gte=day)))
    )
    return {row["member_id"] for row in rows if (week_cap and row["week"] >= week_cap) or (day_cap and row["day"] >= day_cap)}
