"""`notification event emit`: store an event and queue one delivery per matching rule."""

from __future__ import annotations

from typing import Any

from notifications.cli.common import ACTOR, Options, add_json_input, add_verb, iso, json_input, show
from notifications.services import emit


def _emit(options: Options) -> None:
    result = emit(
        actor=ACTOR,
        event_type=options["event_type"],
        payload=json_input(options, "payload"),
        idempotency_key=options["idempotency_key"],
        occurred_at=options["occurred_at"],
    )
    deliveries = [
        {"id": str(delivery.id), "rule": str(delivery.rule_id), "channel": str(delivery.channel_id)}
        for delivery in result.deliveries
    ]
    data: dict[str, Any] = {
        "event_id": str(result.event.id),
        "event_type": result.event.event_type,
        "created": result.created,
        "occurred_at": iso(result.event.occurred_at),
        "deliveries": deliveries if options["json"] else [delivery["id"] for delivery in deliveries],
    }
    show(options, data)


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("event", help="Emit events.")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")

    emit_parser = add_verb(
        verbs,
        "emit",
        _emit,
        "Emit an event; its payload is checked against the event type's schema (see `rule schema TYPE`).",
    )
    emit_parser.add_argument("--event-type", required=True, help="See `rule types`.")
    add_json_input(emit_parser, "payload", "The payload, a JSON object.", required=True)
    emit_parser.add_argument(
        "--idempotency-key", help="Emitting the same key again returns the first event and sends nothing new."
    )
    emit_parser.add_argument("--occurred-at", metavar="ISO8601", help="When it happened (default: now).")
