"""Message templates render a documented set of plain values, and nothing else.

A template is written by campaign staff, who see personal data masked. Given model instances, Django's template
language walks the object graph (``benefit.grants.all`` → every member's phone and voucher code), so the context
holds only strings and numbers, a template may name only the variables below (no attribute traversal), and the
only tags are ``if``/``elif``/``else`` and ``comment``: no ``load``, ``include``, ``debug``, ``for`` …
The same check runs when a template is saved and again when it is rendered.
"""

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.template import Context, Engine, Template, TemplateSyntaxError
from django.template.base import FilterExpression, Lexer, NodeList, TextNode, TokenType, Variable, VariableNode
from django.template.defaulttags import CommentNode, IfNode
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError

# Every variable a message template may use; docs/messaging.md describes each one and who gives it.
TEMPLATE_VARIABLES = frozenset(
    {
        # always: the recipient's own values
        "name",
        "tier",
        "points_balance",
        "unsubscribe_url",
        # the message's tracked link to the template's link (apps/messaging/tracking.py); "" when the template has none
        "tracked_url",
        # campaigns
        "campaign",
        "points",
        "benefit",
        # vouchers
        "benefit_code",
        "expires_at",
        # community events
        "event_title",
        "starts_at",
        "venue",
        "reason",
        "refunded_points",
        # reminders
        "expiring_points",
        "benefit_count",
        "drops_on",
        "growth_needed",
        # surveys: the recipient's own signed link (apps/messaging/member_values.py, filled by feedback)
        "survey_url",
    }
)
ALLOWED_TAGS = frozenset({"if", "elif", "else", "endif", "comment", "endcomment"})
PLAIN_VALUE_TYPES = (str, int, Decimal, date, datetime, type(None))

# An engine of its own: no template directories, no tag libraries to load; plain text, so no HTML escaping of names.
ENGINE = Engine(autoescape=False)


def _refuse(code: str, message: str, field: str, text: str) -> ApplicationError:
    return ApplicationError(code, message, fields={field: text})


def _condition_expressions(condition: Any) -> Iterator[FilterExpression]:
    value = getattr(condition, "value", None)
    if isinstance(value, FilterExpression):
        yield value
    for side in ("first", "second"):
        child = getattr(condition, side, None)
        if child is not None:
            yield from _condition_expressions(child)


def _expressions(nodelist: NodeList) -> Iterator[FilterExpression]:
    for node in nodelist:
        if isinstance(node, VariableNode):
            yield node.filter_expression
        elif isinstance(node, IfNode):
            for condition, branch in node.conditions_nodelists:
                if condition is not None:
                    yield from _condition_expressions(condition)
                yield from _expressions(branch)
        elif not isinstance(node, TextNode | CommentNode):
            raise TypeError(f"unexpected template node {type(node).__name__}")


def _variables(expression: FilterExpression) -> Iterator[Variable]:
    if isinstance(expression.var, Variable) and expression.var.literal is None:
        yield expression.var
    for _filter, arguments in expression.filters:
        for is_lookup, argument in arguments:
            if is_lookup and isinstance(argument, Variable) and argument.literal is None:
                yield argument


def compile_message_template(text: str, *, field: str = "body") -> Template:
    """Compile a subject or body, refusing any tag or variable outside the documented set (error on ``field``)."""
    for token in Lexer(text or "").tokenize():
        if token.token_type == TokenType.BLOCK:
            tag = (token.split_contents() or [""])[0]
            if tag not in ALLOWED_TAGS:
                raise _refuse(
                    "template_tag_not_allowed",
                    _("The tag {%% %(tag)s %%} is not allowed in a message template; only {%% if %%} and {%% comment %%} are.")
                    % {"tag": tag},
                    field,
                    text,
                )
    try:
        template = ENGINE.from_string(text or "")
    except TemplateSyntaxError as exc:
        raise _refuse("invalid_template", _("The template does not compile: %(error)s") % {"error": exc}, field, text) from exc
    for expression in _expressions(template.nodelist):
        for variable in _variables(expression):
            if len(variable.lookups) != 1 or variable.lookups[0] not in TEMPLATE_VARIABLES:
                raise _refuse(
                    "template_variable_not_allowed",
                    _("The variable %(variable)s is not one a message template may use (see the list of message variables).")
                    % {"variable": variable.var},
                    field,
                    text,
                )
    return template


def render_message_text(template: Template, values: dict[str, Any]) -> str:
    """Render a compiled template with plain values only; anything else is a programming error of the sender."""
    for key, value in values.items():
        if key not in TEMPLATE_VARIABLES or not isinstance(value, PLAIN_VALUE_TYPES):
            raise TypeError(f"message variable {key!r} must be one of TEMPLATE_VARIABLES and a plain value, not {type(value).__name__}")
    return template.render(Context(values, autoescape=False)).strip()
