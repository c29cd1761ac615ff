"""`notification rule list|info|create|update|delete|validate|types|schema`.

Templates are Jinja; pass them inline or with `--message-template-file PATH`. `validate` is a dry run
that renders the rule against the event type's example payload, or `--payload`; `--send` sends it too.
"""

from __future__ import annotations

import sys
import uuid
from typing import Any

from notifications.cli.common import (
    ACTOR,
    Options,
    add_enabled_switch,
    add_json_input,
    add_text_input,
    add_verb,
    iso,
    json_input,
    show,
    text_input,
)
from notifications.cli.output import emit_error, emit_json
from notifications.event_types import EventType
from notifications.models import Rule
from notifications.selectors import event_type_get, event_type_list, rule_get, rule_list
from notifications.services import rule_create, rule_delete, rule_update, rule_validate

COLUMNS = ["id", "name", "event_type", "channel", "enabled", "updated_at"]
TEMPLATES = ("message-template", "subject-template", "condition")


def as_dict(rule: Rule) -> dict[str, Any]:
    return {
        "id": str(rule.id),
        "name": rule.name,
        "description": rule.description,
        "event_type": rule.event_type,
        "channel": str(rule.channel_id),
        "channel_name": rule.channel.name,
        "message_template": rule.message_template,
        "subject_template": rule.subject_template,
        "condition": rule.condition,
        "enabled": rule.enabled,
        "created_at": iso(rule.created_at),
        "updated_at": iso(rule.updated_at),
    }


def event_type_dict(event_type: EventType) -> dict[str, Any]:
    return {
        "event_type": event_type.code,
        "description": event_type.description,
        "json_schema": event_type.schema,
        "example": event_type.example,
    }


def _template_fields(options: Options) -> dict[str, Any]:
    fields = {name.replace("-", "_"): text_input(options, name) for name in TEMPLATES}
    return {key: value for key, value in fields.items() if value is not None}


def _list(options: Options) -> None:
    rules = rule_list(actor=ACTOR)
    if options["event_type"]:
        rules = rules.filter(event_type=options["event_type"])
    if options["channel"]:
        rules = rules.filter(channel_id=options["channel"])
    show(options, [as_dict(rule) for rule in rules], COLUMNS)


def _info(options: Options) -> None:
    show(options, as_dict(rule_get(actor=ACTOR, rule_id=options["id"])))


def _create(options: Options) -> None:
    rule = rule_create(
        actor=ACTOR,
        name=options["name"],
        event_type=options["event_type"],
        channel=options["channel"],
        description=options["description"],
        enabled=not options["disabled"],
        **_template_fields(options),
    )
    show(options, as_dict(rule))


def _update(options: Options) -> None:
    fields = {
        key: options[key]
        for key in ("name", "description", "event_type", "channel", "enabled")
        if options[key] is not None
    }
    show(options, as_dict(rule_update(actor=ACTOR, rule_id=options["id"], **fields, **_template_fields(options))))


def _delete(options: Options) -> None:
    rule_delete(actor=ACTOR, rule_id=options["id"])
    show(options, {"id": options["id"], "deleted": True})


def _validate(options: Options) -> None:
    result = rule_validate(
        actor=ACTOR, rule_id=options["id"], payload=json_input(options, "payload"), send=options["send"]
    )
    error = result["error"]
    if options["json"]:
        emit_json(result)
    else:
        rendered = result["rendered"] or {"subject": None, "body": None}
        record = {"matched": result["matched"], "subject": rendered["subject"], "body": rendered["body"]}
        if options["send"]:
            record["sent"] = result["sent"]
        show(options, record)
    if error:
        if not options["json"]:
            emit_error(error["code"], error["message"])
        sys.exit(1)


def _types(options: Options) -> None:
    types = [event_type_dict(event_type) for event_type in event_type_list(actor=ACTOR, search=options["search"])]
    if options["json"]:
        emit_json(types)
    else:
        show(options, types, ["event_type", "description"])


def _schema(options: Options) -> None:
    emit_json(event_type_dict(event_type_get(actor=ACTOR, code=options["event_type"])))


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("rule", help="Which event type goes to which channel, with which template.")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")

    listing = add_verb(verbs, "list", _list, "List rules.")
    listing.add_argument("--event-type", help="Only rules for this event type.")
    listing.add_argument(
        "--channel", type=uuid.UUID, metavar="CHANNEL_ID", help="Only rules that send to this channel."
    )

    add_verb(verbs, "info", _info, "Show one rule.").add_argument("id")

    create = add_verb(verbs, "create", _create, "Create a rule; its templates are checked now.")
    create.add_argument("--name", required=True)
    create.add_argument("--event-type", required=True, help="See `rule types`.")
    create.add_argument("--channel", required=True, metavar="CHANNEL_ID")
    create.add_argument("--description", default="")
    create.add_argument("--disabled", action="store_true", help="Create it disabled.")
    _add_templates(create)

    update = add_verb(verbs, "update", _update, "Change a rule; options left out keep their values.")
    update.add_argument("id")
    update.add_argument("--name")
    update.add_argument("--event-type")
    update.add_argument("--channel", metavar="CHANNEL_ID")
    update.add_argument("--description")
    add_enabled_switch(update)
    _add_templates(update)

    add_verb(verbs, "delete", _delete, "Delete a rule.").add_argument("id")

    validate = add_verb(verbs, "validate", _validate, "Dry run: render a rule's subject and body.")
    validate.add_argument("id")
    add_json_input(validate, "payload", "The event payload (default: the event type's example).")
    validate.add_argument("--send", action="store_true", help="Also send the rendered message through the channel.")

    types = add_verb(verbs, "types", _types, "List the event types rules can match.")
    types.add_argument("--search", default="", help="Only types whose code or description contains this.")

    schema = add_verb(verbs, "schema", _schema, "Print an event type's payload JSON schema and example (JSON).")
    schema.add_argument("event_type")


def _add_templates(parser: Any) -> None:
    add_text_input(parser, "message-template", "Jinja template of the message body.")
    add_text_input(parser, "subject-template", "Jinja template of the email subject.")
    add_text_input(parser, "condition", "Jinja expression; the rule fires only when it is true.")
