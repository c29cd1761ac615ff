"""`notification delivery list|info|retry`: the delivery log, and replaying failed deliveries."""

from __future__ import annotations

import sys
import uuid
from typing import Any

from notifications.cli.common import ACTOR, Options, add_verb, iso, show
from notifications.cli.output import emit_json, emit_record, emit_table
from notifications.models import Delivery, DeliveryAttempt, DeliveryStatus
from notifications.selectors import delivery_get, delivery_list
from notifications.services import delivery_retry

COLUMNS = ["id", "status", "event_type", "channel", "rule", "attempts", "failure_stage", "created_at"]
ATTEMPT_COLUMNS = ["number", "outcome", "transient", "status_code", "error_code", "excerpt", "finished_at"]
FILTERS = {
    "status": "status",
    "event_type": "event__event_type",
    "event": "event_id",
    "channel": "channel_id",
    "rule": "rule_id",
}


def as_dict(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": str(delivery.id),
        "status": delivery.status,
        "event": str(delivery.event_id),
        "event_type": delivery.event.event_type,
        "channel": str(delivery.channel_id) if delivery.channel_id else None,
        "rule": str(delivery.rule_id) if delivery.rule_id else None,
        "attempts": delivery.attempts,
        "next_attempt_at": iso(delivery.next_attempt_at),
        "failure_stage": delivery.failure_stage,
        "skip_reason": delivery.skip_reason,
        "last_error": delivery.last_error,
        "sent_at": iso(delivery.sent_at),
        "created_at": iso(delivery.created_at),
        "updated_at": iso(delivery.updated_at),
    }


def attempt_dict(attempt: DeliveryAttempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "started_at": iso(attempt.started_at),
        "finished_at": iso(attempt.finished_at),
        "outcome": attempt.outcome,
        "transient": attempt.transient,
        "failure_stage": attempt.failure_stage,
        "status_code": attempt.status_code,
        "error_code": attempt.error_code,
        "excerpt": attempt.excerpt,
    }


def _list(options: Options) -> None:
    lookups = {lookup: options[option] for option, lookup in FILTERS.items() if options[option] is not None}
    deliveries = delivery_list(actor=ACTOR).filter(**lookups)[: options["limit"]]
    show(options, [as_dict(delivery) for delivery in deliveries], COLUMNS)


def _info(options: Options) -> None:
    delivery = delivery_get(actor=ACTOR, delivery_id=options["id"])
    attempts = [attempt_dict(attempt) for attempt in delivery.attempt_log.all()]
    if options["json"]:
        emit_json({**as_dict(delivery), "attempt_log": attempts})
        return
    emit_record(as_dict(delivery))
    if attempts:
        sys.stdout.write("\n")
        emit_table(attempts, ATTEMPT_COLUMNS)


def _retry(options: Options) -> None:
    show(options, as_dict(delivery_retry(actor=ACTOR, delivery_id=options["id"])))


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("delivery", help="The delivery log; retry failed deliveries.")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")

    listing = add_verb(verbs, "list", _list, "List deliveries, newest first.")
    listing.add_argument("--status", choices=[status.value for status in DeliveryStatus])
    listing.add_argument("--event-type")
    listing.add_argument("--event", type=uuid.UUID, metavar="EVENT_ID")
    listing.add_argument("--channel", type=uuid.UUID, metavar="CHANNEL_ID")
    listing.add_argument("--rule", type=uuid.UUID, metavar="RULE_ID")
    listing.add_argument("--limit", type=int, default=50, help="At most this many (default: 50).")

    add_verb(verbs, "info", _info, "Show one delivery with its attempts.").add_argument("id")
    add_verb(verbs, "retry", _retry, "Queue a failed or skipped delivery again.").add_argument("id")
