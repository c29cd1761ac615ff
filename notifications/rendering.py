"""Sandboxed Jinja2 rendering of rule templates, subjects and conditions.

Templates run in `ImmutableSandboxedEnvironment` with `StrictUndefined`. On top of the sandbox:
templates are refused at save time when they name an underscore attribute, and when rendering the
event type's example payload trips the sandbox; string repetition and output size are bounded.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from core.errors import ErrorCode, ValidationError


class RenderError(Exception):
    """A template failed while rendering; the message is safe to store and show."""

    code = ErrorCode.TEMPLATE_ERROR


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        limit = settings.NOTIFICATION_RENDER_MAX_CHARS
        if operator_name == "*":
            sized, count = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(sized, str | list | tuple) and isinstance(count, int) and len(sized) * count > limit:
                raise SecurityError("repetition result too large")
        if operator_name == "**" and isinstance(right, int) and abs(right) > 1000:
            raise SecurityError("exponent too large")
        return {"*": operator.mul, "**": operator.pow}[operator_name](left, right)


def _tojson(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _make_env(autoescape: bool) -> _BoundedSandbox:
    env = _BoundedSandbox(undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=True)
    env.filters["tojson"] = _tojson
    env.policies["json.dumps_function"] = _tojson
    return env


TEXT_ENV = _make_env(autoescape=False)
HTML_ENV = _make_env(autoescape=True)


def _unsafe_names(tree: nodes.Node) -> list[str]:
    found = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            name = node.arg.value
        elif isinstance(node, nodes.Name):
            name = node.name
        else:
            continue
        if name.startswith("_"):
            found.append(name)
    return found


@lru_cache(maxsize=2048)
def _compile(source: str, kind: str) -> Any:
    env = HTML_ENV if kind == "html" else TEXT_ENV
    if kind == "expression":
        return TEXT_ENV.compile_expression(source)
    return env.from_string(source)


def check_template(source: str, *, field: str, kind: str = "text") -> None:
    """Raises ValidationError on syntax errors, size, or reaching for private attributes."""
    if len(source.encode()) > settings.NOTIFICATION_TEMPLATE_MAX_BYTES:
        raise ValidationError.for_field(
            field, f"Template is larger than {settings.NOTIFICATION_TEMPLATE_MAX_BYTES} bytes."
        )
    env = TEXT_ENV
    try:
        tree = env.parse(f"{{{{ {source} }}}}" if kind == "expression" else source)
    except TemplateSyntaxError as exc:
        raise ValidationError.for_field(field, f"Template syntax error on line {exc.lineno}: {exc.message}") from None
    unsafe = _unsafe_names(tree)
    if unsafe:
        raise ValidationError.for_field(
            field, f"Templates may not use names that start with an underscore ({unsafe[0]})."
        )
    try:
        _compile(source, kind)
    except TemplateSyntaxError as exc:
        raise ValidationError.for_field(field, f"Template syntax error on line {exc.lineno}: {exc.message}") from None


def _bounded(chunks: Any) -> str:
    limit = settings.NOTIFICATION_RENDER_MAX_CHARS
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise RenderError(f"Rendered output exceeds {limit} characters.")
        out.append(chunk)
    return "".join(out)


@contextmanager
def _as_render_error(what: str) -> Iterator[None]:
    """Turns whatever a template or condition raises into a RenderError whose message is safe to show."""
    try:
        yield
    except RenderError:
        raise
    except SecurityError as exc:
        raise RenderError(f"The {what} tried something the sandbox forbids: {exc}") from None
    except UndefinedError as exc:
        raise RenderError(f"Undefined variable in {what}: {exc.message}") from None
    except TemplateError as exc:
        raise RenderError(f"{what.capitalize()} error: {exc.message}") from None
    except Exception as exc:  # a filter or operator raising, e.g. division by zero
        raise RenderError(f"{what.capitalize()} error: {type(exc).__name__}") from None


def render(source: str, context: Mapping[str, Any], *, kind: str = "text") -> str:
    """Renders a template; raises RenderError with a safe message on any failure."""
    with _as_render_error("template"):
        return _bounded(_compile(source, kind).generate(**context))


def render_subject(source: str, context: Mapping[str, Any]) -> str:
    subject = render(source, context).strip()
    if "\r" in subject or "\n" in subject:
        raise RenderError("The rendered subject contains a line break.")
    return subject


def evaluate_condition(source: str, context: Mapping[str, Any]) -> bool:
    with _as_render_error("condition"):
        return bool(_compile(source, "expression")(**context))


def build_context(
    *,
    event_type: str,
    payload: Mapping[str, Any],
    event_id: str = "",
    timestamp: datetime | str | None = None,
    rule: Mapping[str, Any] | None = None,
    channel: Mapping[str, Any] | None = None,
    admin_panel_url: str = "",
) -> dict[str, Any]:
    """The variables a template sees. Payload fields come first so the reserved names win."""
    context: dict[str, Any] = dict(payload)
    context.update(
        {
            "event_type": event_type,
            "rule_type": event_type,
            "event_id": str(event_id),
            "timestamp": timestamp.isoformat() if isinstance(timestamp, datetime) else (timestamp or ""),
            "data": dict(payload),
            "rule": dict(rule or {}),
            "channel": dict(channel or {}),
        }
    )
    if admin_panel_url:
        context["admin_panel_url"] = admin_panel_url
    return context


def check_against_example(
    *, templates: Mapping[str, tuple[str, str]], event_type: str, example: Mapping[str, Any], condition: str = ""
) -> None:
    """Renders each template (field -> (source, kind)) against the event type's example payload.

    Sandbox violations are refused at save time; an undefined variable is refused too, since the
    example carries every field the schema declares.
    """
    context = build_context(
        event_type=event_type,
        payload=example,
        event_id="00000000-0000-0000-0000-000000000000",
        timestamp="2026-01-01T00:00:00+00:00",
        rule={"name": "example"},
        channel={"name": "example"},
        admin_panel_url="https://admin.example.com",
    )
    if condition:
        try:
            evaluate_condition(condition, context)
        except RenderError as exc:
            raise ValidationError.for_field("condition", str(exc)) from None
    for field, (source, kind) in templates.items():
        if not source:
            continue
        try:
            if field == "subject_template":
                render_subject(source, context)
            else:
                render(source, context, kind=kind)
        except RenderError as exc:
            raise ValidationError.for_field(field, str(exc)) from None
