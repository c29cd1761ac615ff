"""A corpus of known Jinja2 sandbox escapes and resource bombs: each is refused when a rule is saved
(through the REST API and GraphQL: 400, VALIDATION_ERROR, nothing stored) and again when it renders
(through notifications.rendering directly, as a delivery would, since saving stops them first).

STATIC entries are refused whatever branch they sit in; RUNTIME ones are refused when they run,
which at save time means when the event type's example payload reaches them.
"""

from __future__ import annotations

import json
import time

import pytest

from notifications.event_types import NOTIFICATION_TEST
from notifications.models import Rule
from notifications.rendering import RenderError, build_context, evaluate_condition, render, render_subject
from tests.core.api_fixtures import API
from tests.notifications.builders import webhook_channel

pytestmark = pytest.mark.django_db

# Refused by the save-time checks on any branch: private names, dunder strings (also when spelled
# with escapes, which the lexer decodes), dynamic `attr` names, and loading other templates.
STATIC = [
    # attribute chains
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ data.__class__.__init__.__globals__ }}",
    "{{ message['__class__'] }}",
    "{{ message._private }}",
    # |attr, also with escaped underscores and built at run time
    "{{ ''|attr('__class__') }}",
    "{{ (''|attr('__class__')|attr('__mro__'))[1] }}",
    "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ ''|attr('\\u005f\\u005fclass\\u005f\\u005f') }}",
    "{{ ''|attr('\\137\\137class\\137\\137') }}",
    "{{ ''|attr('_' * 2 ~ 'class' ~ '_' * 2) }}",
    "{% set u = '_' * 2 %}{{ message|attr(u ~ 'class' ~ u) }}",
    "{{ message|attr('_' ~ '_class_' ~ '_') }}",
    # getattr through other filters
    "{{ [message]|map(attribute='__class__')|list }}",
    "{{ [message]|map('attr', '__class__')|list }}",
    "{{ [message]|selectattr('__class__')|list }}",
    "{{ [message]|sort(attribute='__class__') }}",
    "{{ [message]|groupby('__class__') }}",
    "{{ [message]|sum(attribute='__class__') }}",
    "{{ [data]|map(attribute='__init__.__globals__')|list }}",
    # format strings reaching attributes
    "{{ '{0.__class__}'.format(message) }}",
    "{{ '{0.__class__.__mro__}'.format(data) }}",
    "{{ '{a.__init__.__globals__}'.format_map({'a': data}) }}",
    "{{ '%s'|format(message.__class__) }}",
    "{{ '%s' % message.__class__ }}",
    # the globals
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ namespace(a=1).__class__ }}",
    "{{ request.__class__ }}",
    "{{ range.__globals__ }}",
    "{{ dict.__base__.__subclasses__() }}",
    # other templates
    "{% include 'notifications/email/layout.txt' %}",
    "{% import 'notifications/email/layout.txt' as layout %}",
    "{% from 'notifications/email/layout.txt' import body %}",
    "{% extends 'admin/base.html' %}",
]

# Refused when they run: the sandbox (mutation, methods outside the allowlist, unknown globals) and
# the resource bounds (size of every value, steps and time per render).
RUNTIME = [
    # request/config/lipsum are not there; mutating the payload is not allowed
    "{{ request.environ }}",
    "{{ config.items() }}",
    "{{ lipsum(10 ** 6) }}",
    "{{ data.update({'message': 'changed'}) }}",
    "{{ data.pop('message') }}",
    "{% set x = data.clear() %}",
    "{{ [].append(1) }}",
    "{{ ('{0.' ~ '_' * 2 ~ 'class' ~ '_' * 2 ~ '}').format(message) }}",
    # methods of built-in types outside the allowlist
    "{{ message.ljust(10 ** 9) }}",
    "{{ message.zfill(10 ** 9) }}",
    "{{ '\\t'.expandtabs(10 ** 9) }}",
    "{{ message.translate({120: 'y' * 200000}) }}",
    "{{ (1).to_bytes(10 ** 9, 'big') }}",
    "{{ message.encode('utf-8') }}",
    # range bombs
    "{{ range(10 ** 9)|list }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% for a in range(99999) %}{% for b in range(99999) %}{% for c in range(99) %}"
    "{% endfor %}{% endfor %}{% endfor %}",
    "{% set l = ('x' * 3000)|list %}{% for a in l %}{% for b in l %}{% endfor %}{% endfor %}",
    # repetition, concatenation and number bombs
    "{{ 'a' * 10 ** 9 }}",
    "{{ ['a'] * 10 ** 9 }}",
    "{{ ('a' * 1000) * 1000 }}",
    "{% set s = 'x' * 250000 %}{{ [s] * 1000 }}",
    "{% set s = 'x' * 2500 %}{% set l = [s] * 100 %}{{ [l, l, l, l, l, l, l, l, l, l, l] }}",
    "{% set s = 'x' * 200000 %}{{ s ~ s ~ s }}",
    "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "{% set ns = namespace(n=2 ** 1000) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}{% endfor %}",
    "{{ (2 ** 1000) ** 1000 }}",
    "{{ 10 ** 100000 }}",
    # filters and formatting that amplify
    "{{ 'a'|center(10 ** 9) }}",
    "{{ message|indent(10 ** 9) }}",
    "{{ ('\\n' * 100000)|indent('x' * 2000) }}",
    "{{ ('a' * 200000)|replace('a', 'aaaaaaaaaa') }}",
    "{{ ('a' * 100000).replace('a', 'aaaaa') }}",
    "{% set s = 'x' * 250000 %}{{ s|wordwrap(1, wrapstring='y' * 100) }}",
    "{% set s = 'x' * 250000 %}{{ [s, s, s]|join }}",
    "{{ 'x'|list|join('y' * 300000) }}",
    "{{ [1]|batch(10 ** 9, 'x')|list }}",
    "{{ [1]|slice(10 ** 9)|list }}",
    "{{ ([[1]] * 9)|sum(start=[]) }}",
    "{{ '%1000000000s' % message }}",
    "{{ '%*s'|format(10 ** 9, message) }}",
    "{{ '%.1000000000f' % 1.5 }}",
    "{{ '{:>1000000000}'.format(message) }}",
    "{{ '{:{}}'.format(message, 10 ** 9) }}",
    "{% set s = 'x' * 250000 %}{{ '{0}{0}{0}{0}'.format(s) }}",
    # recursion and fan-out through macros, blocks and recursive loops
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
    "{% set s = 'x' * 250000 %}{% macro m() %}{% for i in range(1000) %}{{ s }}{% endfor %}{% endmacro %}{{ m() }}",
    "{% set s = 'x' * 250000 %}{% set b %}{% for i in range(1000) %}{{ s }}{% endfor %}{% endset %}",
    "{% macro m() %}{% for i in range(1000) %}{{ caller() }}{% endfor %}{% endmacro %}"
    "{% call m() %}{{ 'x' * 100000 }}{% endcall %}",
    "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}",
]

CORPUS = STATIC + RUNTIME
# Templates a delivery renders in a few milliseconds; a refusal must not take longer than the budget.
RENDER_SECONDS = 3.0


def _context() -> dict:
    return build_context(
        event_type=NOTIFICATION_TEST.code,
        payload=dict(NOTIFICATION_TEST.example),
        event_id="e-1",
        timestamp="2026-01-01T00:00:00+00:00",
        rule={"name": "r"},
        channel={"name": "c"},
    )


@pytest.fixture
def channel():
    return webhook_channel("https://hooks.example.com/in")


@pytest.fixture
def writer(client_for):
    return client_for("writer")


def _create_rule(client, channel, **fields):
    body = {"name": "escape", "event_type": NOTIFICATION_TEST.code, "channel": str(channel.pk), **fields}
    return client.post(f"{API}rules/", json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("template", CORPUS)
def test_refused_when_saved_through_rest(writer, channel, template):
    started = time.monotonic()
    response = _create_rule(writer, channel, message_template=template)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert list(body["fields"]) == ["message_template"]
    assert not Rule.objects.exists()
    assert time.monotonic() - started < RENDER_SECONDS + 1


@pytest.mark.parametrize("template", STATIC)
def test_static_escapes_are_refused_on_a_branch_the_example_never_takes(writer, channel, template):
    hidden = "{% if message == 'never the example' %}" + template + "{% endif %}"
    response = _create_rule(writer, channel, message_template=hidden)
    assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR")
    assert not Rule.objects.exists()


@pytest.mark.parametrize(
    ("field", "source"),
    [
        ("subject_template", "{{ ''|attr('__class__') }}"),
        ("subject_template", "{{ 'a' * 10 ** 9 }}"),
        ("condition", "''.__class__.__mro__"),
        ("condition", "message|attr('_' * 2 ~ 'class' ~ '_' * 2)"),
        ("condition", "range(10 ** 9)|list"),
        ("condition", "('a' * 200000)|replace('a', 'aaaaaaaaaa')"),
    ],
)
def test_subjects_and_conditions_are_held_to_the_same_rules(writer, channel, field, source):
    response = _create_rule(writer, channel, **{field: source})
    body = response.json()
    assert (response.status_code, body["code"], list(body["fields"])) == (400, "VALIDATION_ERROR", [field])
    assert not Rule.objects.exists()


CREATE_RULE = """
mutation($input: CreateNotificationRuleInput!) {
  createNotificationRule(input: $input) {
    __typename
    ... on CreateNotificationRulePayloadError { code fields { field messages } }
  }
}
"""


@pytest.mark.parametrize("template", [STATIC[5], STATIC[10], RUNTIME[15], RUNTIME[-3]])
def test_refused_when_saved_through_graphql(as_user, channel, template):
    gql = as_user("NotificationWriter")
    rule_input = {
        "name": "escape",
        "eventType": NOTIFICATION_TEST.code,
        "channelId": str(channel.pk),
        "messageTemplate": template,
    }
    result = gql(CREATE_RULE, {"input": rule_input})["createNotificationRule"]
    assert result["__typename"] == "CreateNotificationRulePayloadError"
    assert result["code"] == "VALIDATION_ERROR"
    assert [error["field"] for error in result["fields"]] == ["messageTemplate"]
    assert not Rule.objects.exists()


@pytest.mark.parametrize("kind", ["text", "html"])
@pytest.mark.parametrize("template", CORPUS)
def test_refused_when_rendered(template, kind):
    started = time.monotonic()
    with pytest.raises(RenderError):
        render(template, _context(), kind=kind)
    assert time.monotonic() - started < RENDER_SECONDS


@pytest.mark.parametrize("template", [STATIC[5], RUNTIME[19]])
def test_refused_when_rendered_as_a_subject(template):
    with pytest.raises(RenderError):
        render_subject(template, _context())


@pytest.mark.parametrize(
    "condition",
    [
        "''.__class__",
        "message|attr('_' * 2 ~ 'class' ~ '_' * 2)",
        "range(10 ** 9)|list",
        "'a' * 10 ** 9",
        "(2 ** 1000) ** 1000",
        "'{:>1000000000}'.format(message)",
        "data.pop('message')",
    ],
)
def test_refused_when_a_condition_is_evaluated(condition):
    context = _context()
    with pytest.raises(RenderError):
        evaluate_condition(condition, context)
    assert context["data"] == dict(NOTIFICATION_TEST.example)


def test_the_budget_stops_a_render_that_does_nothing_but_loop(settings):
    """Loops are charged per iteration: a generated hook that a Jinja upgrade could drop."""
    settings.NOTIFICATION_RENDER_MAX_STEPS = 1000
    assert render("{% for i in range(999) %}{% endfor %}ok", {}) == "ok"
    with pytest.raises(RenderError, match="too much work"):
        render("{% for i in range(1001) %}{% endfor %}", {})


def test_the_clock_stops_a_render_within_its_steps(settings):
    settings.NOTIFICATION_RENDER_MAX_SECONDS = 0.05
    template = "{% set l = ('x' * 50000)|list %}{% for i in range(1000) %}{{ l|sort|length }}{% endfor %}"
    started = time.monotonic()
    with pytest.raises(RenderError, match="longer than"):
        render(template, {})
    assert time.monotonic() - started < 1


ORDINARY = [
    ("{{ message }}", "Hello"),
    ("{{ '%s-%05.1f' % (message, 2.5) }}", "Hello-002.5"),
    ("{{ '{}: {:>6}'.format(message, 42) }}", "Hello:     42"),
    ("{{ [1, 2] + [3] }} {{ message ~ '!' }} {{ 2 ** 10 }} {{ 'ab' * 3 }}", "[1, 2, 3] Hello! 1024 ababab"),
    ("{% for k, v in data|dictsort %}{{ k }}={{ v|upper }};{% endfor %}", "message=HELLO;"),
    ("{{ data.items()|list|length }} {{ data.get('message') }} {{ message.split('l')|join('L') }}", "1 Hello HeLLo"),
    (
        "{{ message|center(9) }}|{{ message|indent(2, true) }}|{{ message|replace('l', 'L') }}",
        "  Hello  |  Hello|HeLLo",
    ),
    ("{% set ns = namespace(n=0) %}{% for i in range(10) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", "45"),
    ("{% macro hi(name) %}Hi {{ name }}{% endmacro %}{{ hi(message) }} {{ [3, 1]|sort|sum }}", "Hi Hello 4"),
    ("{{ message|attr('upper')() }} {{ [1, 2]|batch(1)|list|length }}", "HELLO 2"),
]


@pytest.mark.parametrize(("template", "expected"), ORDINARY)
def test_ordinary_templates_still_render(template, expected):
    assert render(template, {"message": "Hello", "data": {"message": "Hello"}}) == expected


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'Hello %s!' % message }}",
        "{{ '%s %d %s' % (message, 1, 'x') }}",
        "{{ '%(m)s' % {'m': message} }}",
        "{{ '{} {} {} {} {}'.format(message, 1, 2, 3, 4) }}",
        "{{ '{m} {n}'.format(m=message, n=2) }}",
        "{{ '{0} and {0[0]}'.format(message) }}",
        "{{ message ~ '!' }}",
        "{{ message|replace('a', 'b') }}",
        "{{ message|wordwrap(80) }}",
        "{{ [message, 'x']|join(', ') }}",
    ],
)
def test_a_large_payload_fits_through_formatting_and_filters(template):
    """The bounds count each argument where it is used, so a long but legitimate text passes."""
    message = "a" * 100_000
    assert len(render(template, {"message": message})) >= len(message)
