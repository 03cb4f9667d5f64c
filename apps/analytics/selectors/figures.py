"""What every figure shares: the filter (a range of local days and a slice), the table a figure is, its number formats."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import combinations
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.analytics.days import local_zone
from apps.core.errors import ApplicationError
from apps.core.masking import SMALLEST_GROUP_SHOWN
from apps.members.models import Member, MemberStatus, SourceChannel

ZERO = Decimal("0")


@dataclass(frozen=True)
class MetricFilter:
    """A date range of local days (both ends included) and an optional slice."""

    start: date
    end: date
    tier_id: int | None = None
    city: str = ""
    channel: str = ""

    def slice_q(self) -> Q:
        """The slice on a roll-up table (tier_id, city, channel columns)."""
        q = Q()
        if self.tier_id:
            q &= Q(tier_id=self.tier_id)
        if self.city:
            q &= Q(city=self.city)
        if self.channel:
            q &= Q(channel=self.channel)
        return q

    def member_q(self, prefix: str = "") -> Q:
        q = Q()
        if self.tier_id:
            q &= Q(**{f"{prefix}tier_id": self.tier_id})
        if self.city:
            q &= Q(**{f"{prefix}city": self.city})
        if self.channel:
            q &= Q(**{f"{prefix}source_channel": self.channel})
        return q

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    @property
    def months(self) -> list[date]:
        months, month = [], self.start.replace(day=1)
        while month <= self.end:
            months.append(month)
            month = (month + timedelta(days=32)).replace(day=1)
        return months

    def as_params(self) -> dict[str, Any]:
        params = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        if self.tier_id:
            params["tier"] = self.tier_id
        if self.city:
            params["city"] = self.city
        if self.channel:
            params["channel"] = self.channel
        return params


MAX_RANGE_DAYS = 732


def metric_filter_from(params: Any) -> MetricFilter:
    """A MetricFilter from query parameters (start, end as YYYY-MM-DD; tier id, city, channel); the last 90 days by default."""
    default = default_filter()
    try:
        start = date.fromisoformat(params.get("start")) if params.get("start") else default.start
        end = date.fromisoformat(params.get("end")) if params.get("end") else default.end
    except ValueError:
        raise ApplicationError(
            "invalid_date", _("Dates are written YYYY-MM-DD."), fields={"start": params.get("start"), "end": params.get("end")}
        ) from None
    if end < start:
        raise ApplicationError("invalid_range", _("The range ends before it starts."), fields={"end": end.isoformat()})
    if (end - start).days > MAX_RANGE_DAYS:
        raise ApplicationError("range_too_long", _("The range is at most two years."), fields={"start": start.isoformat()})
    tier = params.get("tier") or None
    if tier is not None and not str(tier).isdigit():
        raise ApplicationError("invalid_tier", _("The tier is given by its id."), fields={"tier": tier})
    channel = params.get("channel") or ""
    if channel and channel not in SourceChannel.values:
        raise ApplicationError("invalid_channel", _("Unknown channel."), fields={"channel": channel})
    return MetricFilter(start=start, end=end, tier_id=int(tier) if tier else None, city=(params.get("city") or "").strip(), channel=channel)


def _slice_filters(f: MetricFilter) -> dict[str, Q]:
    filters = {}
    if f.tier_id:
        filters["tier"] = Q(tier_id=f.tier_id)
    if f.city:
        filters["city"] = Q(city=f.city)
    if f.channel:
        filters["channel"] = Q(source_channel=f.channel)
    return filters


def metric_filter_check_group(*, f: MetricFilter) -> None:
    """Refuse a slice that could single members out, for a caller without the right to personal data: the members
    it holds, and the members of each wider slice (one filter or more left out, down to everyone) who are outside
    it, must each be none or at least ``SMALLEST_GROUP_SHOWN`` — the slice itself at least that many. Otherwise
    a figure, or the difference of two, would be about one person or a few. Counted on enrolled members as they
    are now, in one query."""
    filters = _slice_filters(f)
    if not filters:
        return
    names = list(filters)
    inside = Q()
    for condition in filters.values():
        inside &= condition
    counts = {"inside": Count("pk", filter=inside)}
    for size in range(len(names)):
        for kept in combinations(names, size):
            wider = Q()
            for name in kept:
                wider &= filters[name]
            counts["outside_" + "_".join(kept)] = Count("pk", filter=wider & ~inside)
    found = Member.objects.exclude(status=MemberStatus.PROSPECT).aggregate(**counts)
    too_small = found["inside"] < SMALLEST_GROUP_SHOWN or any(
        0 < count < SMALLEST_GROUP_SHOWN for key, count in found.items() if key != "inside"
    )
    if too_small:
        raise ApplicationError(
            "group_too_small",
            _(
                "This slice (%(filters)s) holds fewer than %(count)d members, or leaves fewer than %(count)d members of "
                "a wider slice outside it: its figures could single members out. Choose a wider slice."
            )
            % {"filters": ", ".join(names), "count": SMALLEST_GROUP_SHOWN},
            fields={name: str(f.as_params()[name]) for name in names},
        )


def local_today() -> date:
    return timezone.localtime(timezone.now(), local_zone()).date()


def default_filter() -> MetricFilter:
    today = local_today()
    return MetricFilter(start=today - timedelta(days=89), end=today)


def ratio(numerator: Any, denominator: Any, places: str = "0.01") -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(places))


def percent(numerator: Any, denominator: Any) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.1"))


def money(value: Any) -> Decimal:
    """Yuan with two places, whatever the database's sum returned (SQLite drops trailing zeros)."""
    return Decimal(value or 0).quantize(Decimal("0.01"))


def month_end(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)


@dataclass
class Figure:
    """A metric as a table: the dashboard draws it, the CSV export writes it, the API returns it."""

    name: str
    title: Any
    columns: list[Any]
    rows: list[list[Any]]
    headline: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, Decimal):
                return str(value)
            if isinstance(value, date):
                return value.isoformat()
            return value

        keys = [str(c) for c in self.columns]
        return {
            "name": self.name,
            "title": str(self.title),
            "columns": keys,
            "rows": [dict(zip(keys, [plain(v) for v in row], strict=True)) for row in self.rows],
            "headline": {k: plain(v) for k, v in self.headline.items()},
        }
