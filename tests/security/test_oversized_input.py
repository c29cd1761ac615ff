"""Oversized and pathological request bodies are refused with a coded JSON error, never a 500, and
nothing is stored: bodies over DATA_UPLOAD_MAX_MEMORY_SIZE (413 PAYLOAD_TOO_LARGE), JSON nested
deeper than the decoder goes (400 PARSE_ERROR), too many query fields, and fields over their limits."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client

from core.models import AuditEntry
from notifications.models import Channel, Event, Rule
from providers.models import NotificationProvider
from tests.core.api_fixtures import API
from tests.notifications.builders import rule, smtp_provider, webhook_channel

pytestmark = pytest.mark.django_db


def test_the_limit_is_set_explicitly():
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 1024 * 1024


def _oversized_channel() -> str:
    body = {"name": "big", "channel_type": "webhook", "config": {"url": "https://hooks.example.com/"}}
    body["description"] = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    return json.dumps(body)


def _nothing_stored() -> None:
    assert not Channel.objects.filter(name="big").exists()
    assert not Event.objects.exists()
    assert not AuditEntry.objects.exclude(action="api_token.create").exists()


@pytest.fixture
def seeded_objects(db):
    channel = webhook_channel("https://hooks.example.com/in", name="small")
    saved_rule = rule(channel, event_type="notification.test", message_template="{{ message }}")
    provider = smtp_provider("smtp.example.com", 587)
    AuditEntry.objects.all().delete()
    return {"channel": channel.pk, "rule": saved_rule.pk, "provider": provider.pk}


WRITES = [
    ("post", "channels/"),
    ("patch", "channels/{channel}/"),
    ("post", "channels/{channel}/validate/"),
    ("post", "rules/"),
    ("patch", "rules/{rule}/"),
    ("post", "rules/{rule}/validate/"),
    ("post", "events/"),
    ("post", "providers/"),
    ("patch", "providers/{provider}/"),
    ("post", "providers/{provider}/test/"),
]


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_an_oversized_rest_body_is_413(client_for, seeded_objects, method, path):
    client = client_for("superuser")
    response = getattr(client, method)(
        API + path.format(**seeded_objects), _oversized_channel(), content_type="application/json"
    )
    assert response.status_code == 413, response.content[:300]
    assert response.json() == {
        "code": "PAYLOAD_TOO_LARGE",
        "message": f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
    }
    _nothing_stored()


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", (413, "PAYLOAD_TOO_LARGE")),
        ("application/x-www-form-urlencoded", (415, "UNSUPPORTED_MEDIA_TYPE")),
    ],
)
def test_an_oversized_body_with_a_session_and_csrf_token(superuser, content_type, expected):
    """The browser's way in: the session's CSRF check runs first; the body is refused either way."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    token = _get_new_csrf_string()
    client.cookies[settings.CSRF_COOKIE_NAME] = token
    response = client.post(
        f"{API}channels/", _oversized_channel(), content_type=content_type, headers={"X-CSRFToken": token}
    )
    assert (response.status_code, response.json()["code"]) == expected
    _nothing_stored()


def test_an_oversized_graphql_body_is_413(as_user):
    gql = as_user()
    query = 'mutation { emitNotificationEvent(eventType: "notification.test", payload: {message: "x"}) { __typename } }'
    body = json.dumps({"query": query, "variables": {"pad": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE}})
    response = gql.client.post("/graphql/", body, content_type="application/json")
    assert response.status_code == 413
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": "PAYLOAD_TOO_LARGE"}
    assert not Event.objects.exists()


def test_an_oversized_graphql_body_is_413_before_authentication():
    response = Client().post("/graphql/", "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1), content_type="text/plain")
    assert (response.status_code, response.json()["errors"][0]["extensions"]["code"]) == (413, "PAYLOAD_TOO_LARGE")


def test_an_oversized_admin_form_is_refused(superuser):
    client = Client()
    client.force_login(superuser)
    response = client.post("/admin/notifications/channel/add/", {"name": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE})
    assert response.status_code == 400
    assert not Channel.objects.exists()


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _event_body(payload_depth: int) -> str:
    # The payload's value sits two levels down in the body.
    return '{"event_type": "notification.test", "payload": {"message": ' + _deep(payload_depth) + "}}"


@pytest.mark.parametrize("depth", [settings.API_MAX_JSON_DEPTH - 1, 500, 5_000, 100_000])
def test_json_nested_too_deeply_is_a_parse_error_in_rest(client_for, depth):
    response = client_for("superuser").post(f"{API}events/", _event_body(depth), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "PARSE_ERROR"
    assert "nested deeper than" in response.json()["message"]
    assert not Event.objects.exists()


def test_json_within_the_depth_limit_reaches_the_service(client_for):
    response = client_for("superuser").post(
        f"{API}events/", _event_body(settings.API_MAX_JSON_DEPTH - 2), content_type="application/json"
    )
    assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR")  # the schema wants a string
    assert not Event.objects.exists()


EMIT = 'mutation($p: JSON!) { emitNotificationEvent(eventType: "notification.test", payload: $p) { __typename } }'


@pytest.mark.parametrize("depth", [settings.API_MAX_JSON_DEPTH, 500, 5_000, 100_000])
def test_json_nested_too_deeply_is_a_parse_error_in_graphql(as_user, depth):
    gql = as_user()
    body = '{"query": "' + EMIT + '", "variables": {"p": {"message": ' + _deep(depth) + "}}}"
    response = gql.client.post("/graphql/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "PARSE_ERROR"
    assert not Event.objects.exists()


@pytest.mark.parametrize("depth", [40, 300, 1_000])
def test_a_deeply_nested_graphql_literal_is_refused(as_user, depth):
    gql = as_user()
    literal = "{a: " * depth + "1" + "}" * depth
    query = f'mutation {{ emitNotificationEvent(eventType: "notification.test", payload: {literal}) {{ __typename }} }}'
    response = gql.client.post("/graphql/", json.dumps({"query": query}), content_type="application/json")
    body = response.json()
    assert response.status_code in (200, 400), body
    codes = [error["extensions"]["code"] for error in body.get("errors", [])]
    payload_errors = [(body.get("data") or {}).get("emitNotificationEvent")]
    assert codes or payload_errors, body
    assert "INTERNAL_ERROR" not in codes
    assert not Event.objects.exists()


def test_too_many_query_parameters_are_a_parse_error(client_for):
    query = "&".join(f"name={index}" for index in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = client_for("viewer").get(f"{API}channels/?{query}")
    assert (response.status_code, response.json()["code"]) == (400, "PARSE_ERROR")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("channels/", {"name": "n" * 257, "channel_type": "webhook", "config": {"url": "https://e.com/"}}, "name"),
        (
            "channels/",
            {"name": "d", "channel_type": "webhook", "config": {"url": "https://e.com/"}, "description": "d" * 10_001},
            "description",
        ),
        (
            "channels/",
            {"name": "u", "channel_type": "webhook", "config": {"url": "https://e.com/" + "a" * 2048}},
            "config.url",
        ),
        (
            "channels/",
            {
                "name": "h",
                "channel_type": "webhook",
                "config": {"url": "https://e.com/", "headers": {"X-A": "v" * 4097}},
            },
            "config.headers.X-A",
        ),
        (
            "channels/",
            {
                "name": "t",
                "channel_type": "email",
                "config": {"message": {"to_emails": [f"u{index}@example.com" for index in range(101)]}},
            },
            "config.message.to_emails",
        ),
        (
            "rules/",
            {"name": "r", "event_type": "notification.test", "channel": "{channel}", "message_template": "x" * 65_537},
            "message_template",
        ),
        ("channels/{channel}/validate/", {"test_message": "x" * 5001}, "test_message"),
    ],
    ids=["name", "description", "url", "header-value", "recipients", "template", "test-message"],
)
def test_fields_over_their_limits_are_validation_errors(client_for, seeded_objects, path, body, field):
    body = json.loads(json.dumps(body).replace("{channel}", str(seeded_objects["channel"])))
    before = (Channel.objects.count(), Rule.objects.count(), NotificationProvider.objects.count())
    response = client_for("superuser").post(
        API + path.format(**seeded_objects), json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 400, response.content[:300]
    error = response.json()
    assert error["code"] == "VALIDATION_ERROR"
    assert any(name == field or name.startswith(f"{field}.") for name in error["fields"]), error["fields"]
    assert (Channel.objects.count(), Rule.objects.count(), NotificationProvider.objects.count()) == before
