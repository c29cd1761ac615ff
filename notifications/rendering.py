"""Sandboxed Jinja2 rendering of rule templates, subjects and conditions.

Templates run in `ImmutableSandboxedEnvironment` with `StrictUndefined`. On top of the sandbox:
templates are refused at save time when they name an underscore attribute, hold a string with a
double underscore, include or import other templates, or when rendering the event type's example
payload trips the sandbox; every render is bounded in size, steps and time (see "Resource bounds").
"""

from __future__ import annotations

import json
import re
import string
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache, wraps
from itertools import chain
from typing import Any

from django.conf import settings
from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.runtime import markup_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace
from markupsafe import soft_str

from core.errors import ErrorCode, ValidationError
from core.schema import has_line_break


class RenderError(Exception):
    """A template failed while rendering; the message is safe to store and show."""

    code = ErrorCode.TEMPLATE_ERROR


# --- Resource bounds -------------------------------------------------------------------------------
# The sandbox stops templates from reaching Python internals; it does not stop them from using a
# lot of memory or time. A template here is bounded three ways:
# - every value it builds (strings, lists, dicts, big integers) stays within NOTIFICATION_RENDER_MAX_CHARS
#   characters as text: operators, concatenation, literals, filters, method calls and format strings
#   check the size of what they would produce before producing it (after, where that is cheap);
# - the methods of built-in types it may call are an allowlist (no `ljust`, `zfill`, `translate`...);
# - a render has a budget of NOTIFICATION_RENDER_MAX_STEPS steps (loop iterations, calls, filters,
#   operators) and NOTIFICATION_RENDER_MAX_SECONDS of wall-clock time.

MAX_INT_BITS = 16_384  # Python refuses to print an int of more than 4300 digits anyway

_SAFE_METHODS: dict[type, frozenset[str]] = {
    str: frozenset(
        [
            "capitalize",
            "casefold",
            "count",
            "endswith",
            "find",
            "format",
            "format_map",
            "index",
            "isalnum",
            "isalpha",
            "isascii",
            "isdecimal",
            "isdigit",
            "isidentifier",
            "islower",
            "isnumeric",
            "isprintable",
            "isspace",
            "istitle",
            "isupper",
            "lower",
            "lstrip",
            "partition",
            "removeprefix",
            "removesuffix",
            "replace",
            "rfind",
            "rindex",
            "rpartition",
            "rsplit",
            "rstrip",
            "split",
            "splitlines",
            "startswith",
            "strip",
            "swapcase",
            "title",
            "upper",
            "striptags",
            "unescape",
        ]
    ),
    dict: frozenset({"get", "items", "keys", "values"}),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    int: frozenset({"real", "imag", "numerator", "denominator", "bit_length"}),
    float: frozenset({"real", "imag", "is_integer"}),
}
_BUILTIN_TYPES = (str, bytes, dict, list, tuple, set, frozenset, int, float, complex, range)
_PRINTF_SPEC = re.compile(r"%(?:\(([^)]*)\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])")


@dataclass
class _Budget:
    steps: int
    deadline: float


_budget: ContextVar[_Budget | None] = ContextVar("render_budget", default=None)


@contextmanager
def _render_budget() -> Iterator[None]:
    budget = _Budget(
        settings.NOTIFICATION_RENDER_MAX_STEPS, time.monotonic() + settings.NOTIFICATION_RENDER_MAX_SECONDS
    )
    token = _budget.set(budget)
    try:
        yield
    finally:
        _budget.reset(token)


def _step() -> None:
    budget = _budget.get()
    if budget is None:
        return
    budget.steps -= 1
    if budget.steps < 0:
        raise SecurityError(
            f"the template does too much work (more than {settings.NOTIFICATION_RENDER_MAX_STEPS} steps)"
        )
    if time.monotonic() > budget.deadline:
        raise SecurityError(f"the template took longer than {settings.NOTIFICATION_RENDER_MAX_SECONDS} seconds")


def text_size(value: Any, memo: dict[int, int] | None = None) -> int:
    """About how many characters `value` becomes as text. A container shared several times counts
    each time (as printing it would), but is measured once."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, bool | Undefined) or value is None:
        return 5
    if isinstance(value, int):
        return value.bit_length() // 3 + 1
    if isinstance(value, float | complex | range):
        return 24
    if isinstance(value, Namespace):
        value = object.__getattribute__(value, "_Namespace__attrs")
    if not isinstance(value, Collection):
        return 16
    memo = {} if memo is None else memo
    if id(value) not in memo:
        items = chain.from_iterable(value.items()) if isinstance(value, Mapping) else value
        memo[id(value)] = 2 + sum(text_size(item, memo) + 2 for item in items)
    return memo[id(value)]


def _refuse_over(size: int, what: str = "a value") -> None:
    limit = settings.NOTIFICATION_RENDER_MAX_CHARS
    if size > limit:
        raise SecurityError(f"{what} would exceed {limit} characters")


def _checked(value: Any) -> Any:
    if isinstance(value, str | Collection | int | Namespace) and not isinstance(value, range):
        _refuse_over(text_size(value))
    return value


def _as_int(value: Any) -> int:
    try:
        return abs(int(value))
    except (TypeError, ValueError, OverflowError):
        return 0


def _escaped(conversion: str | None) -> int:
    """How much longer than its text a value can get: %r/!r and %a/!a escape every character."""
    return 10 if conversion in ("r", "a") else 1


def _printf_size(template: str, args: Any) -> int:
    """The most `template % args` can produce: each specifier's value (in turn, or by name), widened
    to its width and precision, which `*` takes from the values too."""
    values = list(args) if isinstance(args, tuple) else [args]
    position, size = 0, len(template)

    def take() -> Any:
        nonlocal position
        position += 1
        return values[position - 1] if position <= len(values) else None

    for name, width, precision, conversion in _PRINTF_SPEC.findall(template):
        if conversion == "%":
            continue
        widths = _as_int(take() if width == "*" else width) + _as_int(take() if precision == "*" else precision)
        value = args.get(name) if name and isinstance(args, Mapping) else take()
        size += widths + _escaped(conversion) * text_size(value)
    return size


def _format_size(template: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """The most `template.format(*args, **kwargs)` can produce: each field's argument (an attribute
    or item of it is part of it), widened by the numbers in its spec; a nested field in a spec is a
    width taken from the arguments."""
    ints = [_as_int(v) for v in (*args, *kwargs.values()) if isinstance(v, int)]
    automatic, size = 0, len(template)
    for _literal, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        first = re.split(r"[.\[]", field, maxsplit=1)[0]
        if first == "":
            first, automatic = str(automatic), automatic + 1
        value = args[int(first)] if first.isdigit() and int(first) < len(args) else kwargs.get(first)
        widths = sum(int(number) for number in re.findall(r"\d+", spec or ""))
        nested = max(ints, default=0) if "{" in (spec or "") else 0
        size += _escaped(conversion) * text_size(value) + widths + nested
    return size


# Filters that can make far more text than they are given: the most each can make, from its arguments.
def _center_size(value: Any, width: Any = 80, *_: Any, **__: Any) -> int:
    return len(str(value)) + _as_int(width)


def _indent_size(value: Any, width: Any = 4, *_: Any, **__: Any) -> int:
    text = str(value)
    return len(text) + (text.count("\n") + 1) * (len(width) if isinstance(width, str) else _as_int(width))


def _wordwrap_size(value: Any, width: Any = 79, _long: Any = True, wrapstring: Any = None, *_: Any, **kw: Any) -> int:
    text, wrap, width = str(value), str(kw.get("wrapstring", wrapstring) or "\n"), kw.get("width", width)
    return len(text) + (len(text) // max(_as_int(width), 1) + text.count("\n") + 1) * len(wrap)


def _replace_size(value: Any, old: Any = "", new: Any = "", *_: Any, **__: Any) -> int:
    text, old, new = str(value), str(old), str(new)
    occurrences = text.count(old) if old else len(text) + 1
    return len(text) + occurrences * max(0, len(new) - len(old))


def _join_size(value: Any, d: Any = "", *_: Any, **kw: Any) -> int:
    return text_size(value) + len(value) * len(str(kw.get("d", d)))


def _urlize_size(value: Any, *args: Any, **kwargs: Any) -> int:
    extra = sum(len(str(item)) for item in (*args, *kwargs.values()) if isinstance(item, str))
    text = str(value)
    return 3 * len(text) + (len(text) // 4 + 1) * (extra + 64)


def _format_filter_size(value: Any, *args: Any, **kwargs: Any) -> int:
    return _printf_size(str(value), kwargs or args)


def _count_size(value: Any, count: Any = 1, *_: Any, **kw: Any) -> int:
    return _as_int(kw.get("linecount", kw.get("slices", count)))


def _sum_size(value: Any, attribute: Any = None, start: Any = 0, *_: Any, **kw: Any) -> int:
    if not isinstance(kw.get("start", start), int | float):
        raise SecurityError("sum adds numbers")
    return 0


_FILTER_SIZES: dict[str, Callable[..., int]] = {
    "center": _center_size,
    "indent": _indent_size,
    "wordwrap": _wordwrap_size,
    "replace": _replace_size,
    "join": _join_size,
    "urlize": _urlize_size,
    "format": _format_filter_size,
    "batch": _count_size,
    "slice": _count_size,
    "sum": _sum_size,
}


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    passes_first = hasattr(function, "jinja_pass_arg")  # the environment or context comes first
    size_of = _FILTER_SIZES.get(name)

    @wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _step()
        if name == "join" and len(args) > passes_first and not isinstance(args[passes_first], Collection):
            args = (*args[:passes_first], list(args[passes_first]), *args[passes_first + 1 :])
        if size_of is not None and len(args) > passes_first:
            _refuse_over(size_of(*args[passes_first:], **kwargs), f"the {name} filter's result")
        return _checked(function(*args, **kwargs))

    return bounded


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with loop iterations charged to the budget and built values checked."""

    def writeline(self, x: str, node: nodes.Node | None = None, extra: int = 0) -> None:
        super().writeline(x, node, extra)
        if x == "_loop_vars = {}":  # the first line of every for-loop body (CodeGenerator.visit_For)
            super().writeline("environment.render_step()")

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            markup = "context.eval_ctx.volatile"
        else:
            markup = "True" if frame.eval_ctx.autoescape else "False"
        self.write("environment.bounded_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(f"), {markup})")

    def _checked_literal(self, visit: Callable[[Any, Frame], None], node: Any, frame: Frame) -> None:
        if getattr(node, "ctx", "load") != "load":  # a tuple that is assigned to, e.g. a loop target
            visit(node, frame)
            return
        self.write("environment.checked(")
        visit(node, frame)
        self.write(")")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self._checked_literal(super().visit_List, node, frame)

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        self._checked_literal(super().visit_Tuple, node, frame)

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self._checked_literal(super().visit_Dict, node, frame)


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        del self.globals["lipsum"]  # lipsum(n) writes n paragraphs: nothing a notification needs
        self.filters = {name: _bounded_filter(name, function) for name, function in self.filters.items()}

    render_step = staticmethod(_step)
    checked = staticmethod(_checked)

    def concat(self, parts: Iterable[str]) -> str:  # type: ignore[override]
        """Joins a buffer (a macro's output, `{% set %}` and `{% filter %}` blocks)."""
        parts = list(parts)
        _refuse_over(sum(map(len, parts)), "a block's output")
        return "".join(parts)

    def bounded_join(self, parts: tuple[Any, ...], markup: bool) -> str:
        """The `~` operator."""
        _step()
        texts = [soft_str(part) for part in parts]
        _refuse_over(sum(map(len, texts)), "a concatenation")
        return markup_join(texts) if markup else "".join(texts)

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        _step()
        if operator_name == "*":
            sized, count = (left, right) if isinstance(right, int) else (right, left)
            if isinstance(sized, str | list | tuple) and isinstance(count, int):
                _refuse_over(text_size(sized) * count, "a repetition")
            elif (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() + right.bit_length() > MAX_INT_BITS
            ):
                raise SecurityError("a product would be too large a number")
        elif operator_name == "**":
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and abs(left) > 1
                and left.bit_length() * right > MAX_INT_BITS
            ):
                raise SecurityError("a power would be too large a number")
        elif operator_name == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
                _refuse_over(text_size(left) + text_size(right), "a sum")
        elif operator_name == "%" and isinstance(left, str):
            _refuse_over(_printf_size(left, right), "a formatted string")
        return _checked(self.binop_table[operator_name](left, right))

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if isinstance(obj, _BUILTIN_TYPES):
            return any(isinstance(obj, kind) and attr in names for kind, names in _SAFE_METHODS.items())
        return True

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        """Refuses at once, where the sandbox would return an undefined that only fails when printed
        (and not at all inside a list, e.g. from `map(attribute=...)`)."""
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe.")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template, is_format_map = value.__self__, value.__name__ == "format_map"

        @wraps(wrapped)
        def bounded(*args: Any, **kwargs: Any) -> str:
            _step()
            mapping = args[0] if is_format_map and args and isinstance(args[0], Mapping) else kwargs
            _refuse_over(_format_size(template, () if is_format_map else args, mapping), "a formatted string")
            return _checked(wrapped(*args, **kwargs))

        return bounded

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _step()
        if getattr(__obj, "__name__", None) == "replace" and isinstance(getattr(__obj, "__self__", None), str):
            _refuse_over(_replace_size(__obj.__self__, *args, **kwargs), "a replacement")
        return _checked(super().call(__context, __obj, *args, **kwargs))


def _tojson(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _make_env(autoescape: bool) -> _BoundedSandbox:
    env = _BoundedSandbox(undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=True)
    env.filters["tojson"] = _bounded_filter("tojson", _tojson)
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


def _static_problem(tree: nodes.Template) -> str | None:
    """What a template is refused for before it runs, on every branch, taken or not."""
    if any(True for _ in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends))):
        return "Templates cannot include, import or extend other templates."
    unsafe = _unsafe_names(tree)
    if unsafe:
        return f"Templates may not use names that start with an underscore ({unsafe[0]})."
    for const in tree.find_all(nodes.Const):
        if isinstance(const.value, str) and "__" in const.value:  # escapes such as \x5f are decoded here
            return f"Templates may not use strings with a double underscore ({const.value[:40]!r})."
    for applied in tree.find_all(nodes.Filter):
        if applied.name == "attr" and not (applied.args and isinstance(applied.args[0], nodes.Const)):
            return "The attr filter takes a constant attribute name."
    return None


@lru_cache(maxsize=2048)
def _compile(source: str, kind: str) -> Any:
    """The compiled template (or expression), once per process and source: Jinja2's `from_string`
    parses and compiles on every call, which costs several times the rendering itself. A compiled
    template keeps no state between renders, so one serves every delivery and thread."""
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
    problem = _static_problem(tree)
    if problem:
        raise ValidationError.for_field(field, problem)
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
    with _as_render_error("template"), _render_budget():
        return _bounded(_compile(source, kind).generate(**context))


def render_subject(source: str, context: Mapping[str, Any]) -> str:
    subject = render(source, context).strip()
    if has_line_break(subject):
        raise RenderError("The rendered subject contains a line break.")
    return subject


def evaluate_condition(source: str, context: Mapping[str, Any]) -> bool:
    with _as_render_error("condition"), _render_budget():
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
