"""`python manage.py notification channel|rule|event|delivery ...`, run as a person or a script would."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from notifications import signing
from notifications.models import Channel, Delivery, DeliveryStatus
from notifications.signing import verify
from tests.factories import EventFactory, RuleFactory, WebhookChannelFactory

HEADER_SECRET = "Bearer header-5ecret-value"
SIGNING_SECRET = "signing-5ecret-0123456789"
SMTP_PASSWORD = "smtp-pa55word-from-env"
NEW_SMTP_PASSWORD = "smtp-pa55word-from-stdin"
SECRETS = (HEADER_SECRET, SIGNING_SECRET, SMTP_PASSWORD, NEW_SMTP_PASSWORD)
SESSION = {"session_id": "s-42", "session_type": "batch", "cluster_mode": "single-node", "status": "FAILED"}


def _ok(result, *, json_output: bool = True):
    assert result.returncode == 0, result.stderr
    assert not result.error_lines
    return json.loads(result.stdout) if json_output else result.stdout


def _no_secret_in(results) -> None:
    for result in results:
        for secret in SECRETS:
            assert secret not in result.stdout and secret not in result.stderr


def test_round_trip_create_channel_and_rule_emit_see_the_delivery_and_retry_it(cli, webhook_receiver):
    receiver = webhook_receiver(responses=[(400, {}, "rejected"), (200, {}, "ok")])
    results = []

    def run(*args, **kwargs):
        results.append(cli(*args, **kwargs))
        return results[-1]

    config = json.dumps({"url": receiver.url, "headers": {"Authorization": HEADER_SECRET}})
    channel = _ok(
        run(
            "channel", "create", "--name", "ops hook", "--channel-type", "webhook", "--config", config,
            "--password-stdin", "--json",
            stdin=SIGNING_SECRET + "\n",
        )
    )  # fmt: skip
    assert channel["config"]["header_names"] == ["Authorization"] and channel["config"]["has_signing_secret"]
    assert Channel.objects.get(pk=channel["id"]).secrets == {
        "headers": {"Authorization": HEADER_SECRET},
        "signing_secret": SIGNING_SECRET,
    }
    table = _ok(run("channel", "list"), json_output=False)
    assert table.splitlines()[0].split() == ["ID", "NAME", "CHANNEL_TYPE", "ENABLED", "UPDATED_AT"]
    assert channel["id"] in table and "ops hook" in table

    rule = _ok(
        run(
            "rule", "create", "--name", "failed sessions", "--event-type", "session.started",
            "--channel", channel["id"], "--message-template", "Session {{ session_id }} is {{ status }}",
            "--condition", "status == 'FAILED'", "--json",
        )
    )  # fmt: skip
    assert rule["channel"] == channel["id"]
    preview = _ok(run("rule", "validate", rule["id"], "--payload", json.dumps(SESSION), "--json"))
    assert preview["matched"] and preview["rendered"]["body"] == "Session s-42 is FAILED"

    emitted = _ok(run("event", "emit", "--event-type", "session.started", "--payload", json.dumps(SESSION), "--json"))
    assert emitted["created"] and len(emitted["deliveries"]) == 1
    delivery_id = emitted["deliveries"][0]["id"]

    # The first try got a 400: a permanent failure.
    (failed,) = _ok(run("delivery", "list", "--status", "failed", "--event", emitted["event_id"], "--json"))
    assert failed["id"] == delivery_id and failed["failure_stage"] == "webhook_send"
    info = _ok(run("delivery", "info", delivery_id), json_output=False)
    assert "WEBHOOK_BAD_STATUS" in info and "permanent_error" in info

    retried = _ok(run("delivery", "retry", delivery_id, "--json"))
    assert retried["id"] == delivery_id
    delivered = _ok(run("delivery", "info", delivery_id, "--json"))
    assert delivered["status"] == "sent"
    assert [attempt["status_code"] for attempt in delivered["attempt_log"]] == [400, 200]

    validated = _ok(run("channel", "validate", channel["id"], "--test-message", "Hello from the CLI", "--json"))
    assert validated["success"] and validated["error"] is None

    requests = receiver.wait_for(3)
    assert [request.text for request in requests[:2]] == ["Session s-42 is FAILED"] * 2
    assert "Hello from the CLI" in requests[2].text
    for request in requests:
        assert request.headers["Authorization"] == HEADER_SECRET
        assert verify(
            SIGNING_SECRET,
            timestamp=request.headers[signing.TIMESTAMP_HEADER],
            body=request.text,
            signature_header=request.headers[signing.SIGNATURE_HEADER],
        )
    _no_secret_in(results)


def test_email_channel_secrets_come_from_the_environment_and_stdin_and_are_never_printed(cli):
    config = {
        "message": {"from_email": "alerts@example.com", "to_emails": ["ops@example.com"]},
        "smtp": {"host": "smtp.example.com", "port": 587},
        "auth": {"username": "alerts"},
    }
    created = cli(
        "channel", "create", "--name", "ops mail", "--channel-type", "email", "--config", json.dumps(config),
        "--password-env", "OPS_SMTP_PASSWORD",
        env={"OPS_SMTP_PASSWORD": SMTP_PASSWORD},
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "has_password" in created.stdout
    channel = Channel.objects.get(name="ops mail")
    assert channel.secrets == {"password": SMTP_PASSWORD}

    # A new password alone: the stored config is kept.
    updated = cli("channel", "update", str(channel.pk), "--password-stdin", "--json", stdin=NEW_SMTP_PASSWORD)
    assert json.loads(updated.stdout)["config"]["auth"] == {"username": "alerts", "has_password": True}
    channel.refresh_from_db()
    assert channel.secrets == {"password": NEW_SMTP_PASSWORD}
    assert channel.config["smtp"]["host"] == "smtp.example.com"

    # A config without the password keeps the stored one.
    config["message"]["to_emails"] = ["oncall@example.com"]
    cli("channel", "update", str(channel.pk), "--config", json.dumps(config), "--disable")
    channel.refresh_from_db()
    assert channel.secrets == {"password": NEW_SMTP_PASSWORD} and not channel.enabled
    assert channel.config["message"]["to_emails"] == ["oncall@example.com"]

    info = cli("channel", "info", str(channel.pk), "--json")
    assert json.loads(info.stdout)["config"]["auth"]["has_password"] is True
    _no_secret_in([created, updated, info])


def test_rule_types_and_schema_describe_the_event_types(cli):
    types = cli("rule", "types")
    assert types.returncode == 0
    assert "session.started" in types.stdout and "notification.test" in types.stdout
    schema = json.loads(cli("rule", "schema", "session.started").stdout)
    assert schema["event_type"] == "session.started"
    assert "session_id" in schema["json_schema"]["required"] and schema["example"]["status"] == "RUNNING"


@pytest.fixture
def stored(transactional_db):
    channel = WebhookChannelFactory(name="in use")
    rule = RuleFactory(channel=channel)
    sent = Delivery.objects.create(event=EventFactory(), rule=rule, channel=channel, status=DeliveryStatus.SENT)
    return {"channel": str(channel.pk), "sent": str(sent.pk)}


MISSING = str(uuid.uuid4())
ERRORS = [
    # argparse: usage errors exit 2
    (["channel", "create", "--name", "x"], 2, "VALIDATION_ERROR", "required: --channel-type"),
    (["channel", "create", "--name", "x", "--channel-type", "sms", "--config", "{}"], 2, "VALIDATION_ERROR", "sms"),
    (["parcel", "list"], 2, "VALIDATION_ERROR", "invalid choice: 'parcel'"),
    (["delivery", "list", "--channel", "not-a-uuid"], 2, "VALIDATION_ERROR", "--channel"),
    # input and domain errors exit 1
    (["channel", "create", "--name", "x", "--channel-type", "webhook", "--config", "{bad"], 1, "PARSE_ERROR", ""),
    (["channel", "create", "--name", "x", "--channel-type", "webhook", "--config", "{}"], 1, "VALIDATION_ERROR", "url"),
    (["channel", "create", "--name", "in use", "--channel-type", "webhook", "--config", '{"url": "https://a.example"}'],
     1, "DUPLICATE_NAME", "in use"),
    (["channel", "create", "--name", "x", "--channel-type", "webhook", "--config", '{"url": "https://a.example"}',
      "--password-env", "NOT_SET_ANYWHERE"], 1, "VALIDATION_ERROR", "NOT_SET_ANYWHERE"),
    (["channel", "info", MISSING], 1, "NOT_FOUND", MISSING),
    (["channel", "delete", "{channel}"], 1, "CHANNEL_IN_USE", "in use"),
    (["rule", "create", "--name", "r", "--event-type", "session.started", "--channel", "{channel}",
      "--message-template", "{{ nope }}"], 1, "VALIDATION_ERROR", "message_template"),
    (["rule", "schema", "no.such.type"], 1, "NOT_FOUND", "no.such.type"),
    (["event", "emit", "--event-type", "no.such.type", "--payload", "{}"], 1, "VALIDATION_ERROR", "no.such.type"),
    (["event", "emit", "--event-type", "session.started", "--payload", '{"session_id": "s"}'],
     1, "VALIDATION_ERROR", "payload.status"),
    (["event", "emit", "--event-type", "notification.test", "--payload", '{"message": "m"}',
      "--occurred-at", "2026-02-30T09:30:00Z"], 1, "VALIDATION_ERROR", "occurred_at"),
    (["delivery", "retry", "{sent}"], 1, "DELIVERY_NOT_RETRYABLE", "sent"),
]  # fmt: skip


def test_errors_are_one_line_with_their_code_on_stderr(cli, stored):
    def run(args: list[str]):
        return cli(*(arg.format(**stored) if arg.startswith("{") and arg[1:-1] in stored else arg for arg in args))

    with ThreadPoolExecutor(max_workers=4) as pool:  # one process each; side by side to save time
        results = list(pool.map(run, [args for args, *_ in ERRORS]))
    for (args, exit_code, code, detail), result in zip(ERRORS, results, strict=True):
        assert result.returncode == exit_code, (args, result)
        assert result.stdout == "", (args, result)
        assert len(result.stderr.splitlines()) == 1, (args, result)
        assert result.stderr.startswith(f"error: {code}: ") and detail in result.stderr, (args, result)


def test_help_is_there_for_a_verb(cli):
    result = cli("channel", "create", "--help")
    assert result.returncode == 0
    assert "--password-stdin" in result.stdout and "--config-file" in result.stdout
