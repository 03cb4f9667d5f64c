"""Segment conditions: a registry of named filters, each turning one rule into a ``Q`` on Member.

A segment's rules are a JSON tree::

    {"op": "and", "conditions": [
        {"field": "tier", "value": ["gold", "vip"]},
        {"op": "or", "conditions": [{"field": "city", "value": ["上海"]}, {"field": "tags", "value": ["车主"]}]},
        {"field": "points_balance", "operator": "gte", "value": 1000}
    ]}

The tree compiles to ONE ``Q``; multi-valued relations (tags, consents) are ``pk IN (subquery)`` so no row
is duplicated. Later apps add conditions (last activity, RFM segment, event attendance) with
``@register_condition`` in their own module, imported from their AppConfig.ready().
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.errors import ApplicationError
from apps.members.models import Consent, ConsentChannel, Member, MemberStatus, SourceChannel, Tag, Tier

COMPARISONS = {"gte": "gte", "lte": "lte", "gt": "gt", "lt": "lt", "eq": "exact"}
# Bounds on what a rule tree may ask, so a preview or a launch cannot hand the database an unbounded query.
MAX_DEPTH = 5
MAX_CONDITIONS = 100
MAX_VALUES = 500
MAX_TEXT_LENGTH = 100
MAX_DAYS = 36500
MAX_NUMBER = 10**9
MASK = "****"


@dataclass(frozen=True)
class Condition:
    field: str
    label: Any
    operators: tuple[str, ...]
    build: Callable[[str, Any], Q]
    value_kind: str
    # The values staff pick from in the segment builder, as (value, label); None for free text.
    choices: Callable[[], list[tuple[str, Any]]] | None = None
    # Whether a rule of this condition reads members' personal data (what staff without the personal-data permission
    # see masked): a count of the members matching it would let them learn masked values by bisection. A callable
    # decides from the rule's value (an attribute condition is personal when its attribute is).
    personal: bool | Callable[[Any], bool] = False
    # A rule's value as a reader without the permission sees it.
    mask: Callable[[Any], Any] = lambda value: MASK
    # What the segment builder picks from before the value, given whether the reader may see personal data (the
    # attribute condition: each attribute with its type, operators and choices); None when there is nothing to pick.
    options: Callable[[bool], list[dict[str, Any]]] | None = None

    def reads_personal_data(self, value: Any) -> bool:
        return self.personal(value) if callable(self.personal) else self.personal


CONDITIONS: dict[str, Condition] = {}

# How the segment builder names each operator.
OPERATOR_LABELS = {
    "in": gettext_lazy("is one of"),
    "not_in": gettext_lazy("is not one of"),
    "any": gettext_lazy("has any of"),
    "none": gettext_lazy("has none of"),
    "after": gettext_lazy("on or after"),
    "before": gettext_lazy("before"),
    "within_days": gettext_lazy("within the last N days"),
    "not_within_days": gettext_lazy("not within the last N days"),
    "gte": "≥",
    "lte": "≤",
    "gt": ">",
    "lt": "<",
    "eq": "=",
}


def register_condition(
    field: str,
    *,
    label: Any,
    operators: tuple[str, ...] = ("in",),
    value_kind: str = "list",
    choices: Callable[[], list[tuple[str, Any]]] | None = None,
    personal: bool | Callable[[Any], bool] = False,
    mask: Callable[[Any], Any] | None = None,
    options: Callable[[bool], list[dict[str, Any]]] | None = None,
) -> Callable:
    """Register a condition; ``personal`` declares that it reads members' personal data (see ``Condition``)."""

    def decorate(build: Callable[[str, Any], Q]) -> Callable[[str, Any], Q]:
        extra = {"mask": mask} if mask is not None else {}
        CONDITIONS[field] = Condition(field, label, operators, build, value_kind, choices, personal, options=options, **extra)
        return build

    return decorate


def _invalid(path: str, message: str) -> ApplicationError:
    return ApplicationError("invalid_segment_rule", f"{path}: {message}", fields={"rules": path})


def _strings(value: Any, path: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise _invalid(path, _("a non-empty list of values is required."))
    if len(value) > MAX_VALUES:
        raise _invalid(path, _("at most %(count)d values are allowed.") % {"count": MAX_VALUES})
    if any(len(v) > MAX_TEXT_LENGTH for v in value):
        raise _invalid(path, _("each value is text of at most %(length)d characters.") % {"length": MAX_TEXT_LENGTH})
    if any("\x00" in v for v in value):
        raise _invalid(path, _("values cannot contain the NUL character."))
    return value


def _choices(value: Any, path: str, allowed: list[str]) -> list[str]:
    values = _strings(value, path)
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise _invalid(path, _("unknown values: %(values)s") % {"values": ", ".join(unknown)})
    return values


def _int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -MAX_NUMBER <= value <= MAX_NUMBER:
        raise _invalid(path, _("a whole number between %(low)d and %(high)d is required.") % {"low": -MAX_NUMBER, "high": MAX_NUMBER})
    return value


def _days(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise _invalid(path, _("a number of days between 1 and %(high)d is required.") % {"high": MAX_DAYS})
    return value


def _date(value: Any, path: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise _invalid(path, _("a date (YYYY-MM-DD) is required.")) from None


def _tier_choices() -> list[tuple[str, Any]]:
    return [(tier.code, tier.name) for tier in Tier.objects.order_by("rank")]


def _tag_choices() -> list[tuple[str, Any]]:
    return [(name, name) for name in Tag.objects.order_by("name").values_list("name", flat=True)]


@register_condition("tier", label=gettext_lazy("Tier"), choices=_tier_choices)
def _tier(operator: str, value: Any, path: str = "tier") -> Q:
    return Q(tier__code__in=_strings(value, path))


@register_condition("city", label=gettext_lazy("City"))
def _city(operator: str, value: Any, path: str = "city") -> Q:
    return Q(city__in=_strings(value, path))


@register_condition("channel", label=gettext_lazy("Source channel"), choices=lambda: SourceChannel.choices)
def _channel(operator: str, value: Any, path: str = "channel") -> Q:
    return Q(source_channel__in=_choices(value, path, SourceChannel.values))


@register_condition("status", label=gettext_lazy("Status"), choices=lambda: MemberStatus.choices)
def _status(operator: str, value: Any, path: str = "status") -> Q:
    return Q(status__in=_choices(value, path, MemberStatus.values))


@register_condition("tags", label=gettext_lazy("Tags"), operators=("any", "none"), choices=_tag_choices)
def _tags(operator: str, value: Any, path: str = "tags") -> Q:
    tagged = Q(pk__in=Member.tags.through.objects.filter(tag__name__in=_strings(value, path)).values("member_id"))
    return ~tagged if operator == "none" else tagged


@register_condition("joined", label=gettext_lazy("Joined"), operators=("after", "before", "within_days"), value_kind="date")
def _joined(operator: str, value: Any, path: str = "joined") -> Q:
    if operator == "within_days":
        return Q(joined_at__gte=timezone.now() - timedelta(days=_days(value, path)))
    day = _date(value, path)
    return Q(joined_at__date__gte=day) if operator == "after" else Q(joined_at__date__lt=day)


@register_condition("birthday_month", label=gettext_lazy("Birthday month"), value_kind="months", personal=True)
def _birthday_month(operator: str, value: Any, path: str = "birthday_month") -> Q:
    if value == "current":
        return Q(birthday__month=timezone.localdate().month)
    if not isinstance(value, list) or not 0 < len(value) <= 12 or not all(isinstance(v, int) and 1 <= v <= 12 for v in value):
        raise _invalid(path, _('months 1–12, or "current", are required.'))
    return Q(birthday__month__in=value)


@register_condition("points_balance", label=gettext_lazy("Points balance"), operators=tuple(COMPARISONS), value_kind="number")
def _points_balance(operator: str, value: Any, path: str = "points_balance") -> Q:
    return Q(**{f"points_account__balance__{COMPARISONS[operator]}": _int(value, path)})


@register_condition("consent", label=gettext_lazy("Marketing consent given for"), choices=lambda: ConsentChannel.choices)
def _consent(operator: str, value: Any, path: str = "consent") -> Q:
    channels = _choices(value, path, ConsentChannel.values)
    granted = Q()
    for channel in channels:
        granted &= Q(pk__in=Consent.objects.filter(channel=channel, granted=True).values("member_id"))
    return granted


def _check_size(rules: Any) -> None:
    """Refuse trees nested deeper than MAX_DEPTH or holding more than MAX_CONDITIONS nodes, before compiling any of it."""
    pending, nodes = [(rules, 0)], 0
    while pending:
        node, depth = pending.pop()
        nodes += 1
        if nodes > MAX_CONDITIONS:
            raise _invalid("rules", _("at most %(count)d conditions and groups are allowed.") % {"count": MAX_CONDITIONS})
        if depth > MAX_DEPTH:
            raise _invalid("rules", _("groups are nested too deep."))
        if isinstance(node, dict) and isinstance(node.get("conditions"), list):
            pending.extend((child, depth + 1) for child in node["conditions"])


def compile_rules(rules: dict[str, Any], path: str = "rules", depth: int = 0) -> Q:
    """The ``Q`` of a rule tree; raises ApplicationError naming the faulty node."""
    if depth == 0:
        _check_size(rules)
    if not isinstance(rules, dict):
        raise _invalid(path, _("each rule must be an object."))
    if depth > MAX_DEPTH:
        raise _invalid(path, _("groups are nested too deep."))
    if "conditions" in rules:
        op = rules.get("op", "and")
        if op not in ("and", "or"):
            raise _invalid(path, _('a group\'s op is "and" or "or".'))
        children = rules["conditions"]
        if not isinstance(children, list):
            raise _invalid(path, _("conditions must be a list."))
        combined = Q()
        for index, child in enumerate(children):
            q = compile_rules(child, f"{path}.conditions[{index}]", depth + 1)
            combined = (combined & q) if op == "and" else (combined | q)
        return combined
    field = rules.get("field")
    condition = CONDITIONS.get(field) if isinstance(field, str) else None
    if condition is None:
        raise _invalid(path, _("unknown field %(field)s.") % {"field": str(field)[:MAX_TEXT_LENGTH]})
    operator = rules.get("operator", condition.operators[0])
    if operator not in condition.operators:
        shown = str(operator)[:MAX_TEXT_LENGTH]
        raise _invalid(path, _("operator %(operator)s is not allowed for %(field)s.") % {"operator": shown, "field": field})
    return condition.build(operator, rules.get("value"), f"{path}.{field}")


def _rules_nodes(rules: Any, path: str = "rules") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every condition of a rule tree with its path, as ``compile_rules`` names it; malformed nodes are skipped."""
    if not isinstance(rules, dict):
        return
    children = rules.get("conditions")
    if isinstance(children, list):
        for index, child in enumerate(children):
            yield from _rules_nodes(child, f"{path}.conditions[{index}]")
    elif isinstance(rules.get("field"), str) and rules["field"] in CONDITIONS:
        yield f"{path}.{rules['field']}", rules


def personal_conditions(rules: Any) -> list[tuple[str, Condition]]:
    """The conditions of a rule tree that read personal data, with their paths."""
    found = []
    for path, node in _rules_nodes(rules):
        condition = CONDITIONS[node["field"]]
        try:
            personal = condition.reads_personal_data(node.get("value"))
        except (TypeError, ValueError, AttributeError):
            # A value too malformed to tell is refused by compile_rules; reading it as personal refuses it here first.
            personal = True
        if personal:
            found.append((path, condition))
    return found


def check_reader(rules: Any, *, can_see_personal: bool) -> None:
    """Refuse a rule tree with a condition on personal data to a reader who may not see personal data.

    A reader who builds, previews or counts such a segment would learn masked values by narrowing the rule until the
    count changes. Runs of saved segments have no reader and are not checked.
    """
    if can_see_personal:
        return
    found = personal_conditions(rules)
    if found:
        path, condition = found[0]
        raise ApplicationError(
            "segment_condition_personal",
            _("%(path)s: the condition %(condition)s reads members' personal data, which you may not see.")
            % {"path": path, "condition": condition.label},
            fields={"rules": path},
            http_status=403,
        )


def mask_personal_values(rules: Any) -> Any:
    """A copy of a rule tree with the value of each condition on personal data masked, for a reader who may not see it."""
    if not isinstance(rules, dict):
        return rules
    children = rules.get("conditions")
    if isinstance(children, list):
        return {**rules, "conditions": [mask_personal_values(child) for child in children]}
    if not personal_conditions(rules):
        return rules
    condition = CONDITIONS[rules["field"]]
    return {**rules, "value": condition.mask(rules.get("value"))}
