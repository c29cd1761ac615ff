"""Canary secrets, set through every interface, must appear nowhere they should not.

At the start, distinctive values are set as a webhook header value (REST), a webhook signing secret
(CLI, from standard input), an email channel's SMTP password (GraphQL) and the provider's username
and password (the admin form). Then the main flows run: list, read, update, validate, test, emit,
deliver through a real Celery worker (one receiver first answers 500 with the secrets echoed back),
the admin pages and the CLI's list and info, with every logger at DEBUG. Then each place is searched
for each canary, also base64-encoded (as SMTP AUTH would carry it):

- every HTTP response (REST, GraphQL, admin HTML), the CLI's output, every log record of this
  process and the worker's log, every span attribute and event;
- the broker's raw Redis keys (with the message bodies decoded) before the worker consumes them;
- every text and JSON column of every table, read with raw SQL (secrets are stored encrypted).

The legitimate destinations (the webhook receiver, the SMTP servers) are the only ones that see them.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from notifications.delivery import delivery_process
from notifications.models import Channel, Delivery, DeliveryStatus
from providers.models import NotificationProvider
from tests.core.api_fixtures import API
from tests.factories import UserFactory
from tests.support.worker import celery_broker, celery_worker, database_url, wait_until  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
_RUN = uuid.uuid4().hex[:10]
CANARIES = {
    "webhook header value": f"canary-hdr-{_RUN}-7Qx",
    "signing secret": f"canary-sign-{_RUN}-9Lm",
    "smtp password": f"canary-smtp-{_RUN}-2Vb",
    "provider username": f"canary-user-{_RUN}-5Kd",
    "provider password": f"canary-pass-{_RUN}-8Rw",
}
MAIL_LOGIN = "mailer-login"


def _forms(value: str) -> dict[str, str]:
    """The canary as it could appear: plain, and base64 at each of the three alignments."""
    forms = {"plain": value}
    for offset in range(3):
        encoded = base64.b64encode(("\0" * offset + value).encode()).decode()
        # Drop the characters that depend on the padding and the neighbours.
        forms[f"base64+{offset}"] = encoded[(offset * 4 + 2) // 3 + 1 : -3]
    return forms


PATTERNS = [(name, form, text) for name, value in CANARIES.items() for form, text in _forms(value).items()]
PATTERN = re.compile("|".join(re.escape(text) for _, _, text in PATTERNS))


@dataclass
class Findings:
    places: list[str] = field(default_factory=list)

    def scan(self, where: str, text: str | bytes) -> None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        for match in PATTERN.finditer(text):
            name, form = next((name, form) for name, form, value in PATTERNS if value == match.group())
            self.places.append(f"{where}: the {name} ({form})")


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        parts = [record.name, record.getMessage(), repr(record.args), repr(record.__dict__)]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        self.texts.append(" ".join(parts))


@pytest.fixture
def debug_logs() -> Iterator[_Capture]:
    """Every record of every logger at DEBUG, SQL with its parameters included."""
    capture = _Capture()
    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in ("django.db.backends", "celery", "kombu")}
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    for name in saved[1]:
        logging.getLogger(name).setLevel(logging.DEBUG)
    connection.force_debug_cursor = True
    yield capture
    connection.force_debug_cursor = False
    root.removeHandler(capture)
    root.setLevel(saved[0])
    for name, level in saved[1].items():
        logging.getLogger(name).setLevel(level)


@dataclass
class Cli:
    tmp_path: Path
    outputs: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url(connection.settings_dict),
            "DATA_DIR": str(self.tmp_path / "cli"),
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "LOG_LEVEL": "DEBUG",
        }
        completed = subprocess.run(
            [sys.executable, "manage.py", "notification", *args],
            cwd=ROOT,
            env=environment,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.outputs.append((" ".join(args[:2]), completed.stdout + completed.stderr))
        return completed


def _json(response: Any) -> Any:
    assert response.status_code < 400, (response.status_code, response.content[:500])
    return response.json()


def _broker_texts(client: redis.Redis) -> Iterator[tuple[str, bytes]]:
    """Every value in the broker's Redis db, with kombu's base64 message bodies decoded."""
    for key in client.scan_iter():
        kind = client.type(key).decode()
        if kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "hash":
            values = [item for pair in client.hgetall(key).items() for item in pair]
        elif kind == "zset":
            values = client.zrange(key, 0, -1)
        elif kind == "set":
            values = list(client.smembers(key))
        else:
            values = [client.get(key) or b""]
        for value in values:
            yield key.decode(), value
            try:
                message = json.loads(value)
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(message, list) and len(message) > 0 and isinstance(message[0], str):
                message = json.loads(message[0])  # unacked entries: [message, exchange, routing key]
            if isinstance(message, dict) and message.get("properties", {}).get("body_encoding") == "base64":
                yield f"{key.decode()} (body)", base64.b64decode(message["body"])


def _database_texts() -> Iterator[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = current_schema()
              AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea')
            """
        )
        columns = cursor.fetchall()
        for table, column in columns:
            cursor.execute(f'SELECT "{column}"::text FROM "{table}" WHERE "{column}" IS NOT NULL')  # noqa: S608
            for (value,) in cursor.fetchall():
                yield f"{table}.{column}", value


def _span_texts(exporter: Any) -> Iterable[str]:
    for span in exporter.get_finished_spans():
        yield json.dumps({"name": span.name, "attributes": dict(span.attributes or {})}, default=str)
        for event in span.events:
            yield json.dumps({"event": event.name, "attributes": dict(event.attributes or {})}, default=str)


def test_canaries_appear_nowhere_but_where_they_belong(
    settings,
    celery_broker,  # noqa: F811
    celery_worker,  # noqa: F811
    require_postgres,
    webhook_receiver,
    smtp_server,
    span_exporter,
    response_log,
    debug_logs,
    tmp_path,
):
    settings.NOTIFICATION_TEST_SEND_LIMIT = 100
    responses_before = len(response_log.responses)
    cli = Cli(tmp_path)
    admin_user = UserFactory(username=f"canary-admin-{_RUN}", is_superuser=True, is_staff=True)
    rest = APIClient()
    rest.force_authenticate(admin_user)
    browser = Client()
    browser.force_login(admin_user)

    def gql(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = _json(
            browser.post("/graphql/", json.dumps({"query": query, "variables": variables or {}}), "application/json")
        )
        assert "errors" not in body, body
        return body["data"]

    # The receivers: the webhook's first answer echoes the secrets it was sent, as a careless one might.
    echo = f"bad gateway; you sent {CANARIES['webhook header value']} and {CANARIES['signing secret']}"
    receiver = webhook_receiver(responses=[(500, {}, echo), (200, {}, "ok")])
    channel_smtp = smtp_server(credentials=(MAIL_LOGIN, CANARIES["smtp password"]), auth_require_tls=False)
    relay = smtp_server(
        credentials=(CANARIES["provider username"], CANARIES["provider password"]), auth_require_tls=False
    )

    # --- The canaries go in, each through another interface ----------------------------------------
    hook = _json(
        rest.post(
            f"{API}channels/",
            {
                "name": "canary-hook",
                "channel_type": "webhook",
                "config": {"url": receiver.url, "headers": {"X-Api-Key": CANARIES["webhook header value"]}},
            },
            format="json",
        )
    )
    set_secret = cli("channel", "update", hook["id"], "--password-stdin", "--json", stdin=CANARIES["signing secret"])
    assert set_secret.returncode == 0, set_secret.stderr
    mail = gql(
        """mutation($input: CreateNotificationChannelInput!) { createNotificationChannel(input: $input) {
             ... on CreateNotificationChannelPayloadSuccess { notificationChannel { notificationChannelId } } } }""",
        {
            "input": {
                "name": "canary-mail",
                "config": {
                    "email": {
                        "message": {"fromEmail": "alerts@example.com", "toEmails": ["ops@example.com"]},
                        "smtp": {"host": channel_smtp.host, "port": channel_smtp.port, "useTls": False},
                        "auth": {"username": MAIL_LOGIN, "password": CANARIES["smtp password"]},
                    }
                },
            }
        },
    )["createNotificationChannel"]["notificationChannel"]["notificationChannelId"]
    added = browser.post(
        "/notification-providers/add/",
        {
            "name": "Canary relay",
            "provider": "smtp",
            "relay": relay.host,
            "port": relay.port,
            "insecure": "on",
            "from_email": "notify@example.com",
            "from_name": "Notifications",
            "username": CANARIES["provider username"],
            "password": CANARIES["provider password"],
        },
    )
    assert added.status_code == 302, added.content.decode()[-3000:]
    provider = NotificationProvider.objects.get()
    assert provider.secrets == {"username": CANARIES["provider username"], "password": CANARIES["provider password"]}
    stored_hook = Channel.objects.get(pk=hook["id"])
    assert stored_hook.secrets["signing_secret"] == CANARIES["signing secret"]
    via_provider = _json(
        rest.post(
            f"{API}channels/",
            {
                "name": "canary-provider-mail",
                "channel_type": "email",
                "config": {"message": {"to_emails": ["a@example.com"]}},
            },
            format="json",
        )
    )

    # --- The main flows ------------------------------------------------------------------------------
    for channel_id in (hook["id"], mail, via_provider["id"]):
        _json(rest.get(f"{API}channels/{channel_id}/"))
        _json(rest.post(f"{API}channels/{channel_id}/validate/", {"test_message": "canary check"}, format="json"))
    _json(rest.get(f"{API}channels/"))
    _json(
        rest.patch(
            f"{API}channels/{hook['id']}/", {"description": "updated", "config": {"url": receiver.url}}, format="json"
        )
    )
    assert Channel.objects.get(pk=hook["id"]).secrets == stored_hook.secrets  # kept, though not resent
    rules = [
        _json(
            rest.post(
                f"{API}rules/",
                {
                    "name": f"canary-rule-{index}",
                    "event_type": "notification.test",
                    "channel": channel_id,
                    "message_template": "{{ message }} {{ channel.name }} {{ rule.name }}",
                },
                format="json",
            )
        )
        for index, channel_id in enumerate((hook["id"], mail, via_provider["id"]))
    ]
    _json(rest.post(f"{API}rules/{rules[1]['id']}/validate/", {"send": True}, format="json"))
    _json(rest.get(f"{API}providers/"))
    _json(rest.get(f"{API}providers/{provider.pk}/"))
    _json(
        rest.patch(
            f"{API}providers/{provider.pk}/",
            {"config": {"relay": relay.host, "port": relay.port, "insecure": True, "from_email": "notify@example.com"}},
            format="json",
        )
    )
    assert _json(rest.post(f"{API}providers/{provider.pk}/test/", {"send_to": "ops@example.com"}, format="json"))[
        "success"
    ]
    gql(
        """{ notificationChannels { edges { node { name config { channelType
               ... on WebhookConfigGQL { url headerNames hasSigningSecret }
               ... on EmailConfigGQL { auth { username hasPassword } } } } } }
             notificationProviders { name config {
               ... on SmtpNotificationProviderConfig { hasUsername hasPassword } } } }"""
    )
    gql(
        'mutation($id: ID!) { validateNotificationChannel(id: $id, testMessage: "canary") { __typename } }',
        {"id": hook["id"]},
    )

    # Events: the deliveries go to the broker; one is delivered here, so its spans are captured.
    events = [
        _json(
            rest.post(
                f"{API}events/", {"event_type": "notification.test", "payload": {"message": f"m{n}"}}, format="json"
            )
        )
        for n in range(2)
    ]
    first = Delivery.objects.filter(event_id=events[0]["id"], channel_id=hook["id"]).get()
    delivery_process(delivery_id=str(first.pk))
    findings = Findings()
    for key, value in _broker_texts(celery_broker):
        findings.scan(f"broker key {key}", value)
    assert any(True for _ in celery_broker.scan_iter()), "the broker holds the queued deliveries"

    worker = celery_worker(LOG_LEVEL="DEBUG")
    settled = wait_until(
        lambda: (
            Delivery.objects.count() == 6
            and not Delivery.objects.exclude(status__in=[DeliveryStatus.SENT, DeliveryStatus.FAILED]).exists()
        ),
        timeout=60,
        what="all deliveries to settle",
    )
    assert settled
    statuses = sorted(Delivery.objects.values_list("status", flat=True))
    assert statuses == [DeliveryStatus.SENT] * 6, list(Delivery.objects.values("channel__name", "status", "last_error"))
    assert receiver.requests[0].headers["X-Api-Key"] == CANARIES["webhook header value"]  # where it belongs
    assert channel_smtp.messages and relay.messages

    # Read-only views of everything that happened.
    for path in ("deliveries/", f"deliveries/{first.pk}/", "events/", f"events/{events[0]['id']}/"):
        _json(rest.get(f"{API}{path}"))
    gql("{ notificationDeliveries { edges { node { lastError attempts { excerpt errorCode } } } } }")
    admin_pages = [
        "/admin/",
        "/admin/notifications/channel/",
        f"/admin/notifications/channel/{hook['id']}/change/",
        f"/admin/notifications/channel/{mail}/change/",
        f"/admin/notifications/channel/{hook['id']}/test/",
        f"/admin/notifications/rule/{rules[0]['id']}/change/",
        f"/admin/notifications/rule/{rules[0]['id']}/preview/",
        "/admin/notifications/delivery/",
        f"/admin/notifications/delivery/{first.pk}/change/",
        f"/admin/notifications/event/{events[0]['id']}/change/",
        "/admin/core/auditentry/",
        "/notification-providers/",
        f"/notification-providers/{provider.pk}/change/",
        f"/notification-providers/{provider.pk}/test/",
    ]
    for page in admin_pages:
        assert browser.get(page).status_code == 200, page
    assert browser.post(f"/notification-providers/{provider.pk}/test/", {"send_to": ""}).status_code == 200
    assert browser.post(f"/admin/notifications/channel/{hook['id']}/test/", {"test_message": "x"}).status_code == 200
    for args in (
        ("channel", "list", "--json"),
        ("channel", "info", hook["id"], "--json"),
        ("channel", "info", mail, "--json"),
        ("provider", "list", "--json"),
        ("provider", "info", str(provider.pk), "--json"),
        ("delivery", "list", "--json"),
        ("delivery", "info", str(first.pk), "--json"),
    ):
        completed = cli(*args)
        assert completed.returncode == 0, (args, completed.stderr[-2000:])
    worker.stop()

    # --- The search ------------------------------------------------------------------------------------
    for response in response_log.responses[responses_before:]:
        findings.scan(f"HTTP {response.method} {response.path} -> {response.status}", response.body)
    for command, output in cli.outputs:
        findings.scan(f"CLI `{command}`", output)
    for text in debug_logs.texts:
        findings.scan("a log record", text)
    findings.scan("the worker's log", worker.log())
    for text in _span_texts(span_exporter):
        findings.scan("a span", text)
    for column, value in _database_texts():
        findings.scan(f"database column {column}", value)

    assert len(response_log.responses) - responses_before > 40
    assert len(debug_logs.texts) > 100
    assert any("notification.send_webhook" in text for text in _span_texts(span_exporter))
    assert not findings.places, "canaries found:\n" + "\n".join(sorted(set(findings.places)))
