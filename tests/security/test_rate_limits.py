"""Validate and test actions are rate-limited per user in the service layer: one budget shared by
REST, GraphQL and the admin, by channel validation, rule validation with `send` and the provider
test, counted where every process sees it (the database, or Redis), atomically."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.db import connection
from rest_framework.test import APIClient

from core.actors import SystemActor
from core.errors import ErrorCode
from core.models import RateLimitCounter
from core.ratelimit import RateLimited, rate_limit_hit
from notifications.services import channel_validate
from tests.core.api_fixtures import API
from tests.factories import UserFactory
from tests.notifications.builders import rule, smtp_provider, webhook_channel
from tests.support.worker import database_url

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 3


@pytest.fixture
def limit(settings):
    settings.NOTIFICATION_TEST_SEND_LIMIT = LIMIT
    settings.NOTIFICATION_TEST_SEND_WINDOW_SECONDS = 60
    return LIMIT


def _validate(client, channel) -> object:
    return client.post(
        f"{API}channels/{channel.pk}/validate/", json.dumps({"test_message": "probe"}), content_type="application/json"
    )


VALIDATE = """
mutation($id: ID!) {
  validateNotificationChannel(id: $id, testMessage: "probe") {
    __typename
    ... on ValidateNotificationChannelPayloadSuccess { success }
    ... on ValidateNotificationChannelPayloadError { code message }
  }
}
"""


@pytest.mark.django_db
def test_the_limit_refuses_with_429_and_retry_after_and_sends_nothing_more(limit, client_for, webhook_receiver):
    receiver = webhook_receiver()
    channel = webhook_channel(receiver.url)
    client = client_for("writer")

    answers = [_validate(client, channel) for _ in range(limit + 2)]

    assert [answer.status_code for answer in answers] == [200] * limit + [429, 429]
    refused = answers[-1]
    assert refused.json()["code"] == ErrorCode.RATE_LIMITED
    assert f"at most {limit} per 60 seconds" in refused.json()["message"]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert len(receiver.requests) == limit


@pytest.mark.django_db
def test_one_budget_is_shared_by_every_interface_and_action(limit, client_for, as_user, webhook_receiver, smtp_server):
    receiver = webhook_receiver()
    channel = webhook_channel(receiver.url)
    saved_rule = rule(channel, event_type="notification.test", message_template="{{ message }}")
    sink = smtp_server(auth_require_tls=False)
    provider = smtp_provider(sink.host, sink.port)
    user = UserFactory(username="busy", is_superuser=True, is_staff=True)
    rest = APIClient()
    rest.force_authenticate(user)
    gql = as_user()
    gql.client.force_login(user)

    assert _validate(rest, channel).status_code == 200
    sent = rest.post(
        f"{API}rules/{saved_rule.pk}/validate/", json.dumps({"send": True}), content_type="application/json"
    )
    assert sent.json()["sent"] is True
    assert gql(VALIDATE, {"id": str(channel.pk)})["validateNotificationChannel"]["success"] is True

    # The budget is spent: every action, on every interface, is refused now.
    assert _validate(rest, channel).status_code == 429
    send = rest.post(
        f"{API}rules/{saved_rule.pk}/validate/", json.dumps({"send": True}), content_type="application/json"
    )
    assert (send.status_code, send.json()["code"]) == (429, "RATE_LIMITED")
    tested = rest.post(f"{API}providers/{provider.pk}/test/", "{}", content_type="application/json")
    assert (tested.status_code, tested.json()["code"]) == (429, "RATE_LIMITED")
    data = gql(VALIDATE, {"id": str(channel.pk)})["validateNotificationChannel"]
    assert (data["__typename"], data["code"]) == ("ValidateNotificationChannelPayloadError", "RATE_LIMITED")
    page = gql.client.post(f"/admin/notifications/channel/{channel.pk}/test/", {"test_message": "probe"}, follow=True)
    assert "Too many test sends" in page.content.decode()
    provider_page = gql.client.post(f"/notification-providers/{provider.pk}/test/", {"send_to": ""}, follow=True)
    assert "Too many test sends" in provider_page.content.decode()

    assert len(receiver.requests) == 3  # REST validate, the rule's send, GraphQL validate
    assert sink.messages == []

    # A dry run sends nothing and is not limited; nor is another user.
    dry = rest.post(f"{API}rules/{saved_rule.pk}/validate/", "{}", content_type="application/json")
    assert dry.status_code == 200 and dry.json()["sent"] is False
    assert _validate(client_for("writer"), channel).status_code == 200


@pytest.mark.django_db
def test_the_window_ends(settings, client_for, webhook_receiver):
    settings.NOTIFICATION_TEST_SEND_LIMIT = 1
    settings.NOTIFICATION_TEST_SEND_WINDOW_SECONDS = 1
    channel = webhook_channel(webhook_receiver().url)
    client = client_for("writer")
    time.sleep(1 - time.time() % 1 + 0.01)  # start at the beginning of a window

    assert [_validate(client, channel).status_code for _ in range(2)] == [200, 429]
    time.sleep(1 - time.time() % 1 + 0.01)
    assert _validate(client, channel).status_code == 200


@pytest.mark.django_db
def test_the_cli_acts_as_a_system_actor_and_is_not_limited(limit, webhook_receiver):
    channel = webhook_channel(webhook_receiver().url)
    results = [channel_validate(actor=SystemActor("cli"), channel_id=channel.pk, test_message="x") for _ in range(5)]
    assert all(result["success"] for result in results)


def test_the_openapi_schema_documents_the_429(client):
    schema = client.get("/api/schema/?format=json").json()
    for path in (
        "/api/v1/notifications/channels/{channel_id}/validate/",
        "/api/v1/notifications/rules/{rule_id}/validate/",
        "/api/v1/notifications/providers/{provider_id}/test/",
    ):
        assert "429" in schema["paths"][path]["post"]["responses"], path


# --- Shared between processes, counted atomically ---------------------------------------------------


def _hammer(user, threads: int = 12) -> list[bool]:
    """`threads` concurrent hits for one user; True where the hit was allowed."""
    outcomes: list[bool] = []
    barrier = threading.Barrier(threads)

    def hit() -> None:
        try:
            barrier.wait()
            try:
                rate_limit_hit(actor=user)
                outcomes.append(True)
            except RateLimited:
                outcomes.append(False)
        finally:
            connection.close()

    workers = [threading.Thread(target=hit) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_cannot_slip_past_the_database_counter(limit, require_postgres):
    user = UserFactory()
    outcomes = _hammer(user)
    assert (outcomes.count(True), outcomes.count(False)) == (limit, 12 - limit)
    assert RateLimitCounter.objects.get().count == 12


@pytest.mark.django_db(transaction=True)
def test_the_redis_counter_is_shared_and_atomic(limit, settings, redis_url):
    settings.RATE_LIMIT_REDIS_URL = redis_url
    client = redis.Redis.from_url(redis_url)
    user = UserFactory()
    try:
        outcomes = _hammer(user)
        assert (outcomes.count(True), outcomes.count(False)) == (limit, 12 - limit)
        (key,) = client.keys(f"ratelimit:test-send:{user.pk}:*")
        assert int(client.get(key)) == 12
        assert 0 < client.ttl(key) <= 61
        assert not RateLimitCounter.objects.exists()
    finally:
        for key in client.scan_iter(f"ratelimit:test-send:{user.pk}:*"):
            client.delete(key)


@pytest.mark.django_db(transaction=True)
def test_another_process_spends_the_same_budget(limit, require_postgres, webhook_receiver, tmp_path):
    """Validations in a separate Python process (another web worker) count against this one."""
    receiver = webhook_receiver()
    channel = webhook_channel(receiver.url)
    user = UserFactory(username=f"u-{uuid.uuid4().hex[:6]}", is_superuser=True)
    script = (
        "from django.contrib.auth import get_user_model\n"
        "from notifications.services import channel_validate\n"
        f"user = get_user_model().objects.get(pk={user.pk})\n"
        f"for _ in range({limit}):\n"
        f"    assert channel_validate(actor=user, channel_id='{channel.pk}', test_message='x')['success']\n"
    )
    environment = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(connection.settings_dict),
        "DATA_DIR": str(tmp_path),
    }
    completed = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert len(receiver.requests) == limit

    with pytest.raises(RateLimited):
        channel_validate(actor=user, channel_id=channel.pk, test_message="x")
    assert len(receiver.requests) == limit
