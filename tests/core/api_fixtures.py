"""Fixtures for the REST API tests, imported by the conftest of tests/core, tests/notifications/api and
tests/providers/api.

Every response that goes through Django's handler during the session is recorded. After each test the
secrets stored in the database (channel passwords, header values, signing secrets, provider usernames
and passwords) are collected, and the test fails if any response body of that test holds one; at the
end of the session every recorded /api/ response is scanned against every secret seen.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.handlers.base import BaseHandler
from rest_framework.test import APIClient

from core.actors import SystemActor
from core.tokens import api_token_create
from notifications.models import Channel
from notifications.services import channel_create, rule_create
from providers.models import NotificationProvider
from providers.services import notification_provider_create
from tests.factories import UserFactory

API = "/api/v1/notifications/"
SEED_ACTOR = SystemActor("tests")

# Distinctive values, so that finding one in a response cannot be a coincidence.
WEBHOOK_HEADER_VALUE = "hdr-value-7f3a9c2e1b"
WEBHOOK_SIGNING_SECRET = "sign-secret-4d8e2a7c9f1b3e5a"
EMAIL_PASSWORD = "mail-pass-9c1e7a3f"
PROVIDER_USERNAME = "relay-user-5b2d8f"
PROVIDER_PASSWORD = "relay-pass-3e9a1c7d"
MIN_SECRET_LENGTH = 6

ROLE_GROUPS: dict[str, tuple[str, ...]] = {
    "nobody": (),
    "viewer": ("NotificationViewer",),
    "writer": ("NotificationWriter",),
    "publisher": ("EventPublisher",),
    "provider_viewer": ("NotificationProviderViewer",),
    "provider_writer": ("NotificationProviderWriter",),
}
ROLES = ("anonymous", *ROLE_GROUPS, "superuser")


def _secret_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if len(value) >= MIN_SECRET_LENGTH:
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secret_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _secret_strings(item)


def stored_secrets() -> set[str]:
    """Every secret value stored right now, decrypted."""
    found: set[str] = set()
    for model in (Channel, NotificationProvider):
        for secrets in model.objects.values_list("secrets", flat=True):
            found.update(_secret_strings(secrets))
    return found


@dataclass
class RecordedResponse:
    test: str
    method: str
    path: str
    status: int
    body: str


@dataclass
class ResponseLog:
    responses: list[RecordedResponse] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)
    current_test: str = ""

    def record(self, request: Any, response: Any) -> None:
        if getattr(response, "streaming", False):
            return
        self.responses.append(
            RecordedResponse(
                test=self.current_test,
                method=request.method,
                path=request.get_full_path(),
                status=response.status_code,
                body=response.content.decode("utf-8", "replace"),
            )
        )

    def leaks(self, responses: list[RecordedResponse] | None = None) -> list[str]:
        secrets = sorted(self.secrets, key=len, reverse=True)
        if not secrets:
            return []
        pattern = re.compile("|".join(re.escape(secret) for secret in secrets))
        return [
            f"{response.test}: {response.method} {response.path} -> {response.status} holds {match.group()!r}"
            for response in (self.responses if responses is None else responses)
            for match in pattern.finditer(response.body)
        ]


@pytest.fixture(scope="session")
def response_log() -> Iterator[ResponseLog]:
    log = ResponseLog()
    original = BaseHandler.get_response

    def recording_get_response(handler: BaseHandler, request: Any) -> Any:
        response = original(handler, request)
        log.record(request, response)
        return response

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseHandler, "get_response", recording_get_response)
        yield log
    api_responses = [response for response in log.responses if response.path.startswith("/api/")]
    leaks = log.leaks(api_responses)
    assert not leaks, "secrets in responses:\n" + "\n".join(leaks[:20])


@pytest.fixture(autouse=True)
def _scan_responses_for_secrets(request: pytest.FixtureRequest, response_log: ResponseLog, db: None) -> Iterator[None]:
    """Fails the test when a response it caused holds a stored secret.

    Fuzzed tests (marked `fuzz`) store random secrets that may legitimately equal a name or another
    echoed value; they register the secrets of their seeded objects explicitly instead.
    """
    response_log.current_test = request.node.nodeid
    start = len(response_log.responses)
    yield
    if request.node.get_closest_marker("fuzz") is None:
        response_log.secrets |= stored_secrets()
    leaks = response_log.leaks(response_log.responses[start:])
    assert not leaks, "secrets in responses:\n" + "\n".join(leaks)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fuzz: generated input; secrets are registered explicitly (see api_fixtures)")


# --- Clients -----------------------------------------------------------------------------------------


def bearer_client(user: Any) -> APIClient:
    """A client that authenticates as `user` with a real API token, as an integration would."""
    _, raw = api_token_create(actor=SEED_ACTOR, user=user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for(db: None) -> Callable[[str], APIClient]:
    """client_for("viewer") etc.: a bearer-token client for a user with that role (see ROLES)."""

    def make(role: str) -> APIClient:
        if role == "anonymous":
            return APIClient()
        if role == "superuser":
            return bearer_client(UserFactory(username="root", is_superuser=True, is_staff=True))
        return bearer_client(UserFactory(username=role, groups=list(ROLE_GROUPS[role])))

    return make


# --- Stored objects with secrets ----------------------------------------------------------------------


def webhook_config(url: str = "https://hooks.example.com/in?team=ops", **overrides: Any) -> dict[str, Any]:
    return {
        "url": url,
        "method": "POST",
        "headers": {"X-Api-Key": WEBHOOK_HEADER_VALUE},
        "timeout": 5,
        "signing_secret": WEBHOOK_SIGNING_SECRET,
        **overrides,
    }


def email_config(**overrides: Any) -> dict[str, Any]:
    return {
        "message": {"from_email": "alerts@example.com", "to_emails": ["ops@example.com"]},
        "smtp": {"host": "127.0.0.1", "port": closed_port(), "use_tls": False, "timeout": 5},
        "auth": {"username": "mailer", "password": EMAIL_PASSWORD},
        **overrides,
    }


def closed_port() -> int:
    """A loopback port nothing listens on, so a connection is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def smtp_provider_config(**overrides: Any) -> dict[str, Any]:
    return {
        "relay": "127.0.0.1",
        "port": closed_port(),
        "insecure": True,
        "from_email": "notifications@example.com",
        "from_name": "Notifications",
        "username": PROVIDER_USERNAME,
        "password": PROVIDER_PASSWORD,
        **overrides,
    }


@pytest.fixture
def webhook_channel(db: None) -> Channel:
    return channel_create(actor=SEED_ACTOR, name="ops-webhook", channel_type="webhook", config=webhook_config())


@pytest.fixture
def email_channel(db: None) -> Channel:
    return channel_create(actor=SEED_ACTOR, name="ops-email", channel_type="email", config=email_config())


@pytest.fixture
def rule(webhook_channel: Channel) -> Any:
    return rule_create(
        actor=SEED_ACTOR,
        name="session started",
        event_type="session.started",
        channel=webhook_channel,
        message_template="Session {{ session_id }} is {{ status }}",
    )


@pytest.fixture
def provider(db: None) -> NotificationProvider:
    return notification_provider_create(actor=SEED_ACTOR, provider="smtp", name="Relay", config=smtp_provider_config())


# --- The permission matrix ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One operation of the matrix. `path` and string values of `body` may name seeded objects:
    {channel} (a webhook to a closed loopback port), {unused_channel}, {rule}, {event}, {delivery}
    (failed, so retryable), {provider}."""

    method: str
    path: str
    success: int
    allowed: frozenset[str]
    body: Any = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}{' send' if isinstance(self.body, dict) and self.body.get('send') else ''}"

    def expected_status(self, role: str) -> int:
        if role == "anonymous":
            return 401
        return self.success if role in self.allowed or role == "superuser" else 403


@pytest.fixture
def seeded(db: None) -> Callable[[str], str]:
    """seeded("rule") -> the id of an object of that kind, created on first use."""
    from notifications.models import Delivery, DeliveryStatus
    from tests.factories import EventFactory

    made: dict[str, Any] = {}

    def make(name: str) -> Any:
        if name == "channel":
            return channel_create(
                actor=SEED_ACTOR,
                name="local-webhook",
                channel_type="webhook",
                config=webhook_config(f"http://127.0.0.1:{closed_port()}/hook"),
            )
        if name == "unused_channel":
            return channel_create(actor=SEED_ACTOR, name="unused", channel_type="email", config=email_config())
        if name == "rule":
            return rule_create(
                actor=SEED_ACTOR,
                name="r",
                event_type="notification.test",
                channel=get("channel"),
                message_template="{{ message }}",
            )
        if name == "event":
            return EventFactory()
        if name == "delivery":
            return Delivery.objects.create(
                event=get("event"), rule=get("rule"), channel=get("channel"), status=DeliveryStatus.FAILED
            )
        if name == "provider":
            return notification_provider_create(
                actor=SEED_ACTOR, provider="smtp", name="Relay", config=smtp_provider_config()
            )
        raise KeyError(name)

    def get(name: str) -> Any:
        if name not in made:
            made[name] = make(name)
        return made[name]

    return lambda name: str(get(name).pk)


PLACEHOLDER = re.compile(r"\{(channel|unused_channel|rule|event|delivery|provider)\}")


def fill(value: Any, seeded: Callable[[str], str]) -> Any:
    """Replaces {name} placeholders in a path or in the string values of a body."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda match: seeded(match.group(1)), value)
    if isinstance(value, dict):
        return {key: fill(item, seeded) for key, item in value.items()}
    return value


def check_permission(endpoint: Endpoint, role: str, client_for: Any, seeded: Any) -> None:
    client = client_for(role)
    path, body = fill(endpoint.path, seeded), fill(endpoint.body, seeded)
    response = client.generic(
        endpoint.method, f"{API}{path}", json.dumps(body) if body is not None else "", content_type="application/json"
    )
    expected = endpoint.expected_status(role)
    assert response.status_code == expected, (role, str(endpoint), response.content[:500])
    if expected >= 400:
        assert response.json()["code"] == {401: "NOT_AUTHENTICATED", 403: "PERMISSION_DENIED"}[expected]
