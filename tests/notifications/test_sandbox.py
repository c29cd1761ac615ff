"""Templates are checked in the sandbox when a rule is saved; what slips through fails at render time."""

import pytest

from core.errors import ValidationError
from notifications import rendering
from notifications.rendering import RenderError, render, render_subject
from tests.notifications.builders import rule, webhook_channel

pytestmark = pytest.mark.django_db

ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__init__.__globals__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ (''|attr('__class__')|attr('__mro__'))[1] }}",
    "{{ data['__class__'] }}",
    "{{ range.__self__ }}",
    "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ config }}",
    "{{ request.environ }}",
    "{{ 'x' * 100000000 }}",
    "{{ 2 ** 10000000 }}",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_templates_reaching_for_internals_are_refused_when_saved(template):
    channel = webhook_channel("https://hooks.example.com/in")
    with pytest.raises(ValidationError) as error:
        rule(channel, message_template=template)
    assert "message_template" in error.value.fields


@pytest.mark.parametrize("field", ["subject_template", "condition"])
def test_subjects_and_conditions_are_checked_too(field):
    channel = webhook_channel("https://hooks.example.com/in")
    source = "cycler.__init__.__globals__" if field == "condition" else "{{ cycler.__init__.__globals__ }}"
    with pytest.raises(ValidationError) as error:
        rule(channel, **{field: source})
    assert field in error.value.fields


def test_an_undefined_variable_is_an_error_not_an_empty_string():
    channel = webhook_channel("https://hooks.example.com/in")
    with pytest.raises(ValidationError) as error:
        rule(channel, message_template="Hello {{ no_such_field }}")
    assert "no_such_field" in error.value.fields["message_template"][0]

    with pytest.raises(RenderError, match="Undefined variable"):
        render("{{ data.missing }}", {"data": {}})


def test_a_subject_with_a_line_break_is_refused():
    channel = webhook_channel("https://hooks.example.com/in")
    with pytest.raises(ValidationError) as error:
        rule(channel, subject_template="Hello{{ '\\r\\n' }}Bcc: victim@example.com")
    assert "subject_template" in error.value.fields
    with pytest.raises(RenderError, match="line break"):
        render_subject("{{ name }}", {"name": "a\nb"})


def test_ordinary_templates_are_accepted():
    channel = webhook_channel("https://hooks.example.com/in")
    saved = rule(
        channel,
        message_template='{"text": {{ session_name|tojson }}, "n": {{ data|length }}}',
        subject_template="[{{ event_type }}] {{ session_id|upper }}",
        condition="status in ['RUNNING', 'PENDING'] and cluster_mode != 'multi-node'",
    )
    assert saved.pk


def test_a_template_is_compiled_once_per_source_and_each_render_gets_its_own_variables(monkeypatch):
    compiled = []
    original = rendering.TEXT_ENV.from_string

    def counting(source, *args, **kwargs):
        compiled.append(source)
        return original(source, *args, **kwargs)

    monkeypatch.setattr(rendering.TEXT_ENV, "from_string", counting)
    source = "Session {{ session_id }} is {{ status }} (compiled once)"

    outputs = [render(source, {"session_id": f"s-{index}", "status": "RUNNING"}) for index in range(3)]

    assert outputs == [f"Session s-{index} is RUNNING (compiled once)" for index in range(3)]
    assert compiled == [source]
    assert render(source + "!", {"session_id": "s-9", "status": "DONE"}) == "Session s-9 is DONE (compiled once)!"
    assert compiled == [source, source + "!"]
