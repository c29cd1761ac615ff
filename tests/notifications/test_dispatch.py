"""Which `deliver` tasks reach the broker (notifications/dispatch.py): real Redis, or the real filesystem broker."""

import base64
import json

import pytest
import redis

from config.celery import app as celery_app
from notifications import dispatch
from notifications.delivery import delivery_process
from notifications.models import DeliveryStatus
from notifications.services import emit
from tests.notifications.builders import ACTOR, SESSION, rule, webhook_channel
from tests.support.worker import celery_broker, reset_producer_pool  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def queued(client: redis.Redis) -> list[str]:
    """The delivery ids of the `deliver` tasks waiting in the broker's queue, oldest first."""
    ids = []
    for raw in reversed(client.lrange("celery", 0, -1)):
        message = json.loads(raw)
        assert message["headers"]["task"] == "notifications.deliver"
        args, _, _ = json.loads(base64.b64decode(message["body"]))
        ids.append(args[0])
    return ids


def flags(client: redis.Redis) -> set[str]:
    return {key.decode().removeprefix(dispatch.KEY_PREFIX) for key in client.keys(f"{dispatch.KEY_PREFIX}*")}


def emit_committed(capture, count: int = 1) -> list:
    deliveries = []
    for _ in range(count):
        with capture(execute=True):
            deliveries += emit(actor=ACTOR, event_type="session.started", payload=SESSION).deliveries
    return deliveries


@pytest.fixture
def two_channels(webhook_receiver):
    first, second = webhook_receiver(), webhook_receiver()
    rule(webhook_channel(first.url, name="first"))
    rule(webhook_channel(second.url, name="second"))
    return first, second


def test_one_task_per_channel_while_one_waits(celery_broker, two_channels, django_capture_on_commit_callbacks):  # noqa: F811
    deliveries = emit_committed(django_capture_on_commit_callbacks, count=5)

    assert len(deliveries) == 10
    by_channel = {}
    for delivery in deliveries:
        by_channel.setdefault(str(delivery.channel_id), []).append(str(delivery.pk))
    # The first delivery of each channel names its task; the other eight wait for those two.
    assert sorted(queued(celery_broker)) == sorted(ids[0] for ids in by_channel.values())
    assert flags(celery_broker) == set(by_channel)
    ttl = celery_broker.pttl(f"{dispatch.KEY_PREFIX}{next(iter(by_channel))}")
    assert 0 < ttl <= dispatch.FLAG_TTL_MS


def test_every_emit_leaves_one_wake_up_token_that_one_waiting_drain_takes(
    celery_broker,  # noqa: F811
    two_channels,
    django_capture_on_commit_callbacks,
):
    deliveries = emit_committed(django_capture_on_commit_callbacks, count=3)
    channel_ids = {delivery.channel_id for delivery in deliveries}

    for channel_id in channel_ids:
        wake = f"{dispatch.WAKE_PREFIX}{channel_id}"
        assert celery_broker.llen(wake) == dispatch.WAKE_TOKENS_KEPT  # three emits, one token kept
        assert 0 < celery_broker.pttl(wake) <= dispatch.WAKE_TTL_MS
        assert dispatch.wait_for_more(channel_id, 0.1) is True
        assert dispatch.wait_for_more(channel_id, 0.1) is False  # taken: the next wait times out


def test_a_drain_holding_the_flag_sends_what_was_emitted_meanwhile_and_then_lets_tasks_through(
    celery_broker,  # noqa: F811
    two_channels,
    django_capture_on_commit_callbacks,
):
    first, second = emit_committed(django_capture_on_commit_callbacks)
    celery_broker.delete("celery")
    celery_broker.delete(f"{dispatch.KEY_PREFIX}{second.channel_id}")

    dispatch.drain_holds(first.channel_id)  # what a task does when it starts
    meanwhile = emit_committed(django_capture_on_commit_callbacks)
    # The first channel's drain will look again before it ends: only the other channel gets a task.
    assert queued(celery_broker) == [str(d.pk) for d in meanwhile if d.channel_id == second.channel_id]

    result = delivery_process(delivery_id=str(first.pk))  # the drain

    drained = {first.pk, *(d.pk for d in meanwhile if d.channel_id == first.channel_id)}
    assert {result.delivery_id, *(r.delivery_id for r in result.also)} == {str(pk) for pk in drained}
    assert str(first.channel_id) not in flags(celery_broker)  # cleared before its last look
    celery_broker.delete("celery")
    later = emit_committed(django_capture_on_commit_callbacks)
    assert str(next(d.pk for d in later if d.channel_id == first.channel_id)) in queued(celery_broker)


def test_a_drain_that_stops_early_asks_for_one_more_task(
    celery_broker,  # noqa: F811
    webhook_receiver,
    django_capture_on_commit_callbacks,
    settings,
):
    settings.NOTIFICATION_DELIVERY_BATCH_SIZE = 10
    receiver = webhook_receiver(responses=[(503, {}, "down"), (200, {}, "ok")])
    rule(webhook_channel(receiver.url))
    first, *rest = emit_committed(django_capture_on_commit_callbacks, count=4)
    assert queued(celery_broker) == [str(first.pk)]
    celery_broker.delete("celery")

    result = delivery_process(delivery_id=str(first.pk))

    assert result.status == DeliveryStatus.RETRYING
    assert {r.status for r in result.also} == {DeliveryStatus.PENDING}
    # The three given back would otherwise have no task: the flag was cleared when the drain began.
    assert len(queued(celery_broker)) == 1
    assert flags(celery_broker) == {str(first.channel_id)}
    delivery_process(delivery_id=queued(celery_broker)[0])  # the continuation drains them
    for delivery in rest:
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.SENT


def test_a_full_batch_asks_for_one_spare_task_to_share_the_backlog(
    celery_broker,  # noqa: F811
    webhook_receiver,
    django_capture_on_commit_callbacks,
    settings,
):
    settings.NOTIFICATION_DELIVERY_BATCH_SIZE = 2
    receiver = webhook_receiver()
    rule(webhook_channel(receiver.url))
    first, *_ = emit_committed(django_capture_on_commit_callbacks, count=7)
    celery_broker.delete("celery")

    result = delivery_process(delivery_id=str(first.pk))

    assert len(result.also) == 6 and len(receiver.requests) == 7
    # Four full batches, one spare: the flag it set held back the others.
    assert len(queued(celery_broker)) == 1


@pytest.fixture
def filesystem_broker(tmp_path):
    """The embedded default broker (kombu's filesystem transport) in a folder of the test's own."""
    for sub in ("queue", "control"):
        (tmp_path / sub).mkdir()
    conf = celery_app.conf
    saved = (conf.broker_url, conf.broker_transport_options)
    conf.broker_url = "filesystem://"
    conf.broker_transport_options = {
        "data_folder_in": str(tmp_path / "queue"),
        "data_folder_out": str(tmp_path / "queue"),
        "control_folder": str(tmp_path / "control"),
        "store_processed": False,
    }
    reset_producer_pool()
    yield tmp_path / "queue"
    conf.broker_url, conf.broker_transport_options = saved
    reset_producer_pool()


def queued_files(folder) -> list[str]:
    """The delivery ids of the `deliver` tasks in a filesystem broker's queue folder."""
    ids = []
    for path in sorted(folder.iterdir()):
        message = json.loads(path.read_text())
        args, _, _ = json.loads(base64.b64decode(message["body"]))
        ids.append(args[0])
    return ids


def test_without_a_redis_broker_every_delivery_gets_its_own_task(
    filesystem_broker, two_channels, django_capture_on_commit_callbacks
):
    deliveries = emit_committed(django_capture_on_commit_callbacks, count=3)

    assert sorted(queued_files(filesystem_broker)) == sorted(str(d.pk) for d in deliveries)
    # A spare is never needed (every delivery has its task); a continuation still goes out.
    dispatch.kick(channel_id=deliveries[0].channel_id, delivery_id=str(deliveries[0].pk), spare=True)
    assert len(queued_files(filesystem_broker)) == 6
    dispatch.kick(channel_id=deliveries[0].channel_id, delivery_id=str(deliveries[0].pk))
    assert len(queued_files(filesystem_broker)) == 7
