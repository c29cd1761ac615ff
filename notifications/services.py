"""Writes for channels, rules, events and deliveries. Every interface (REST, GraphQL, admin, CLI) calls these."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypedDict

from django.db import IntegrityError, connection, transaction
from django.db.models.deletion import ProtectedError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.actors import require_permission
from core.errors import Conflict, ErrorCode, ValidationError
from core.ratelimit import rate_limit_hit
from core.schema import clean_name, reject_unstorable
from core.services import audit_entry_create
from notifications import dispatch, rendering
from notifications.channel_kinds import get_kind
from notifications.channel_kinds.email import NO_SMTP_PROVIDER
from notifications.delivery import Outcome, attempt_send, model_from_row, template_context
from notifications.event_types import NOTIFICATION_TEST, get_event_type, validate_payload
from notifications.models import Channel, ChannelType, Delivery, DeliveryStatus, Event, Rule
from notifications.selectors import channel_get, delivery_get, rule_get
from providers.sender_cache import get_smtp_sender

logger = logging.getLogger(__name__)

TEST_MESSAGE_MAX_CHARS = 5000

_UNSET: Any = object()


def _clean_text(value: Any, *, field: str, max_length: int = 10_000) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError.for_field(field, "Expected a string.")
    reject_unstorable(value, field=field)
    if len(value) > max_length:
        raise ValidationError.for_field(field, f"At most {max_length} characters.")
    return value


def _clean_bool(value: Any, *, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError.for_field(field, "Expected true or false.")
    return value


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None


def _save_unique_name(instance: Channel) -> None:
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise Conflict(
            f"A channel named {instance.name!r} already exists.",
            code=ErrorCode.DUPLICATE_NAME,
            fields={"name": ["A channel with this name already exists."]},
        ) from None


@transaction.atomic
def channel_create(
    *,
    actor: Any,
    name: Any,
    channel_type: Any,
    config: Any,
    description: Any = "",
    enabled: Any = True,
) -> Channel:
    require_permission(actor, "notifications.add_channel")
    kind = get_kind(channel_type)
    clean_config, secrets = kind.validate(config)
    channel = Channel(
        name=clean_name(name),
        description=_clean_text(description, field="description"),
        channel_type=kind.key,
        config=clean_config,
        secrets=secrets,
        enabled=_clean_bool(enabled, field="enabled"),
        created_by=_user(actor),
    )
    _save_unique_name(channel)
    audit_entry_create(
        actor=actor,
        action="channel.create",
        object_type="channel",
        object_id=channel.pk,
        detail={"fields": ["name", "channel_type", "config", "description", "enabled"]},
    )
    return channel


@transaction.atomic
def channel_update(
    *,
    actor: Any,
    channel_id: Any,
    name: Any = _UNSET,
    description: Any = _UNSET,
    channel_type: Any = _UNSET,
    config: Any = _UNSET,
    enabled: Any = _UNSET,
) -> Channel:
    """Changes the given fields. A config that omits a secret keeps the stored one."""
    require_permission(actor, "notifications.change_channel")
    channel = channel_get(actor=actor, channel_id=channel_id)
    channel = Channel.objects.select_for_update().get(pk=channel.pk)
    changed = []
    if channel_type is not _UNSET and channel_type != channel.channel_type:
        kind = get_kind(channel_type)
        if config is _UNSET:
            raise ValidationError.for_field("config", "A new channel type needs a config of that type.")
        channel.channel_type = kind.key
        channel.secrets = {}
        changed.append("channel_type")
    if name is not _UNSET:
        channel.name = clean_name(name)
        changed.append("name")
    if description is not _UNSET:
        channel.description = _clean_text(description, field="description")
        changed.append("description")
    if enabled is not _UNSET:
        channel.enabled = _clean_bool(enabled, field="enabled")
        changed.append("enabled")
    if config is not _UNSET:
        channel.config, channel.secrets = get_kind(channel.channel_type).validate(
            config, stored_secrets=channel.secrets
        )
        changed.append("config")
    _save_unique_name(channel)
    audit_entry_create(
        actor=actor, action="channel.update", object_type="channel", object_id=channel.pk, detail={"fields": changed}
    )
    return channel


@transaction.atomic
def channel_delete(*, actor: Any, channel_id: Any) -> None:
    require_permission(actor, "notifications.delete_channel")
    channel = channel_get(actor=actor, channel_id=channel_id)
    try:
        with transaction.atomic():
            channel.delete()
    except ProtectedError:
        rule_names = sorted(rule.name for rule in channel.rules.all()[:5])
        raise Conflict(
            f"Channel {channel.name!r} is used by rules ({', '.join(rule_names)}); delete or move them first.",
            code=ErrorCode.CHANNEL_IN_USE,
        ) from None
    audit_entry_create(actor=actor, action="channel.delete", object_type="channel", object_id=channel_id)


def _check_rule_templates(rule: Rule) -> None:
    event_type = get_event_type(rule.event_type)
    rendering.check_template(rule.message_template, field="message_template")
    rendering.check_template(rule.subject_template, field="subject_template")
    if rule.condition:
        rendering.check_template(rule.condition, field="condition", kind="expression")
    rendering.check_against_example(
        templates={
            "message_template": (rule.message_template, "text"),
            "subject_template": (rule.subject_template, "text"),
        },
        event_type=rule.event_type,
        example=event_type.example,
        condition=rule.condition,
    )


def _resolve_channel(actor: Any, channel: Any) -> Channel:
    if isinstance(channel, Channel):
        return channel
    try:
        return channel_get(actor=actor, channel_id=channel)
    except Exception as exc:
        if getattr(exc, "code", None) == ErrorCode.NOT_FOUND:
            raise ValidationError.for_field("channel", f"Channel {channel} does not exist.") from None
        raise


@transaction.atomic
def rule_create(
    *,
    actor: Any,
    name: Any,
    event_type: Any,
    channel: Any,
    message_template: Any = "",
    subject_template: Any = "",
    condition: Any = "",
    description: Any = "",
    enabled: Any = True,
) -> Rule:
    require_permission(actor, "notifications.add_rule")
    rule = Rule(
        name=clean_name(name),
        description=_clean_text(description, field="description"),
        event_type=get_event_type(event_type).code,
        channel=_resolve_channel(actor, channel),
        message_template=_clean_text(message_template, field="message_template", max_length=10**6),
        subject_template=_clean_text(subject_template, field="subject_template", max_length=998),
        condition=_clean_text(condition, field="condition", max_length=4096),
        enabled=_clean_bool(enabled, field="enabled"),
        created_by=_user(actor),
    )
    _check_rule_templates(rule)
    rule.save()
    audit_entry_create(actor=actor, action="rule.create", object_type="rule", object_id=rule.pk)
    return rule


@transaction.atomic
def rule_update(
    *,
    actor: Any,
    rule_id: Any,
    name: Any = _UNSET,
    event_type: Any = _UNSET,
    channel: Any = _UNSET,
    message_template: Any = _UNSET,
    subject_template: Any = _UNSET,
    condition: Any = _UNSET,
    description: Any = _UNSET,
    enabled: Any = _UNSET,
) -> Rule:
    require_permission(actor, "notifications.change_rule")
    rule = rule_get(actor=actor, rule_id=rule_id)
    changes = {
        "name": (name, lambda v: clean_name(v)),
        "description": (description, lambda v: _clean_text(v, field="description")),
        "event_type": (event_type, lambda v: get_event_type(v).code),
        "channel": (channel, lambda v: _resolve_channel(actor, v)),
        "message_template": (message_template, lambda v: _clean_text(v, field="message_template", max_length=10**6)),
        "subject_template": (subject_template, lambda v: _clean_text(v, field="subject_template", max_length=998)),
        "condition": (condition, lambda v: _clean_text(v, field="condition", max_length=4096)),
        "enabled": (enabled, lambda v: _clean_bool(v, field="enabled")),
    }
    changed = []
    for field, (value, clean) in changes.items():
        if value is not _UNSET:
            setattr(rule, field, clean(value))
            changed.append(field)
    _check_rule_templates(rule)
    rule.save()
    audit_entry_create(
        actor=actor, action="rule.update", object_type="rule", object_id=rule.pk, detail={"fields": changed}
    )
    return rule


@transaction.atomic
def rule_delete(*, actor: Any, rule_id: Any) -> None:
    require_permission(actor, "notifications.delete_rule")
    rule = rule_get(actor=actor, rule_id=rule_id)
    rule.delete()
    audit_entry_create(actor=actor, action="rule.delete", object_type="rule", object_id=rule_id)


# --- Events and deliveries ------------------------------------------------------------------


@dataclass(frozen=True)
class EmitResult:
    """`created` is False when the idempotency key was seen: `event` is then the first one."""

    event: Event
    deliveries: list[Delivery]
    created: bool


class ValidateError(TypedDict):
    code: str
    message: str


class ChannelValidateResult(TypedDict):
    success: bool
    delivered_at: datetime | None
    error: ValidateError | None


class RenderedPreview(TypedDict):
    subject: str | None
    body: str


class RuleValidateResult(TypedDict):
    matched: bool
    rendered: RenderedPreview | None
    sent: bool
    error: ValidateError | None


def _clean_idempotency_key(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 255:
        raise ValidationError.for_field("idempotency_key", "Expected a string of at most 255 characters.")
    reject_unstorable(value, field="idempotency_key")
    return value


def _clean_occurred_at(value: Any) -> datetime:
    if value is None:
        return timezone.now()
    try:
        parsed = value if isinstance(value, datetime) else parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well-formed but impossible, e.g. February 30th or hour 25
        parsed = None
    if parsed is None:
        raise ValidationError.for_field("occurred_at", "Expected an ISO 8601 date-time.")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


def _enqueue_on_commit(deliveries: list[Delivery]) -> None:
    """Transactional outbox: the tasks go out only once the rows they name are committed.

    An enqueue that fails (broker down) is logged by Django and left to the sweeper.
    """
    pairs = [(str(delivery.pk), delivery.channel_id) for delivery in deliveries]
    if pairs:
        transaction.on_commit(lambda: dispatch.enqueue(pairs), robust=True)


def _existing_emit(key: str) -> EmitResult:
    event = Event.objects.get(idempotency_key=key)
    return EmitResult(event=event, deliveries=list(event.deliveries.select_related("rule", "channel")), created=False)


# The channel columns a matching rule carries (the rest, its secrets among them, load on access).
_MATCH_CHANNEL_FIELDS = ("id", "name", "channel_type", "enabled")


@lru_cache(maxsize=4)
def _matching_rules_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    rule_table, channel_table = quote(Rule._meta.db_table), quote(Channel._meta.db_table)
    rule_columns = ", ".join(f"{rule_table}.{quote(field.column)}" for field in Rule._meta.concrete_fields)
    channel_columns = ", ".join(
        f"{channel_table}.{quote(Channel._meta.get_field(name).column)} AS {quote('channel__' + name)}"
        for name in _MATCH_CHANNEL_FIELDS
    )
    # Names from the models' metadata, values as parameters.
    return (
        f"SELECT {rule_columns}, {channel_columns} FROM {rule_table} "  # noqa: S608
        f"JOIN {channel_table} ON {channel_table}.{quote('id')} = {rule_table}.{quote('channel_id')} "
        f"WHERE {rule_table}.{quote('event_type')} = %s AND {rule_table}.{quote('enabled')} = %s "
        f"AND {channel_table}.{quote('enabled')} = %s"
    )


def _rule_from_row(row: tuple) -> Rule:
    """A rule and its channel from a row of `_matching_rules_sql` (rule columns, then channel ones)."""
    width = len(Rule._meta.concrete_fields)
    rule = model_from_row(Rule, row[:width])
    channel_fields = [Channel._meta.get_field(name) for name in _MATCH_CHANNEL_FIELDS]
    values = [field.to_python(value) for field, value in zip(channel_fields, row[width:], strict=True)]
    rule.channel = Channel.from_db(connection.alias, list(_MATCH_CHANNEL_FIELDS), values)
    return rule


def _matching_rules(event_type: str) -> list[Rule]:
    """The enabled rules of enabled channels for `event_type`, each with its channel: one query.

    Written out once per process and read with a plain cursor rather than compiled by the ORM at
    every emit, where compiling the join and building the rows cost half of emit()'s CPU; the
    partial index `rule_enabled_event_type_idx` serves it.
    """
    with connection.cursor() as cursor:
        cursor.execute(_matching_rules_sql(connection.vendor), [event_type, True, True])
        return [_rule_from_row(row) for row in cursor.fetchall()]


def _firing_deliveries(event: Event, rules: list[Rule]) -> list[Delivery]:
    return [Delivery(event=event, rule=rule, channel=rule.channel) for rule in rules if _rule_fires(rule, event)]


def _rule_fires(rule: Rule, event: Event) -> bool:
    if not rule.condition:
        return True
    context = template_context(
        event_type=event.event_type,
        payload=event.payload,
        event_id=event.id,
        timestamp=event.occurred_at,
        rule=rule,
        channel=rule.channel,
    )
    try:
        return rendering.evaluate_condition(rule.condition, context)
    except rendering.RenderError:
        # No payload content in the log: the condition's error message could quote it.
        logger.warning(
            "Rule condition failed to evaluate; the rule does not fire",
            extra={"rule_id": str(rule.id), "event_id": str(event.id), "event_type": event.event_type},
        )
        return False


def _insert_row(obj: Any) -> tuple[list[str], list[Any]]:
    """The quoted columns and prepared values of a new row, as Model.save() would insert it."""
    fields = type(obj)._meta.concrete_fields
    columns = [connection.ops.quote_name(field.column) for field in fields]
    values = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    return columns, values


def _insert_event_and_deliveries(event: Event, deliveries: list[Delivery]) -> None:
    """One statement, atomic on its own, so no transaction round trips: the hot path of emit()."""
    quote = connection.ops.quote_name
    event_columns, params = _insert_row(event)
    sql = f"INSERT INTO {quote(Event._meta.db_table)} ({', '.join(event_columns)}) VALUES ({', '.join(['%s'] * len(params))})"  # noqa: S608, E501
    if deliveries:
        rows = [_insert_row(delivery) for delivery in deliveries]
        row_placeholder = f"({', '.join(['%s'] * len(rows[0][1]))})"
        sql = (
            f"WITH event_row AS ({sql}) "  # noqa: S608  (names from the models' metadata, values as parameters)
            f"INSERT INTO {quote(Delivery._meta.db_table)} ({', '.join(rows[0][0])}) "
            f"VALUES {', '.join([row_placeholder] * len(rows))}"
        )
        params += [value for _, values in rows for value in values]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    for obj in (event, *deliveries):
        obj._state.adding, obj._state.db = False, connection.alias


# Each new delivery's id, rule and channel come from the matched rows; its other columns are the
# same for every one, given once as parameters.
_PER_MATCH_COLUMNS = {"id": "gen_random_uuid()", "rule_id": "matched.id", "channel_id": "matched.channel_id"}


@lru_cache(maxsize=4)
def _match_and_store_sql(vendor: str) -> str:
    """Matches the rules and, unless one of them has a condition, stores the event and a delivery
    per rule; returns the matched rows, each with its new delivery's id (NULL when nothing was
    stored). Names from the models' metadata, values as parameters."""
    quote = connection.ops.quote_name

    def cast(field: Any) -> str:
        return f"CAST(%s AS {field.db_type(connection)})"

    event_fields, delivery_fields = Event._meta.concrete_fields, Delivery._meta.concrete_fields
    delivery_values = [_PER_MATCH_COLUMNS.get(field.column) or cast(field) for field in delivery_fields]
    return (
        f"WITH matched AS ({_matching_rules_sql(vendor)}), "  # noqa: S608
        "unconditional AS (SELECT NOT EXISTS "
        f"(SELECT 1 FROM matched WHERE matched.{quote('condition')} <> '') AS ok), "
        f"stored_event AS (INSERT INTO {quote(Event._meta.db_table)} "
        f"({', '.join(quote(field.column) for field in event_fields)}) "
        f"SELECT {', '.join(cast(field) for field in event_fields)} FROM unconditional WHERE ok), "
        f"stored AS (INSERT INTO {quote(Delivery._meta.db_table)} "
        f"({', '.join(quote(field.column) for field in delivery_fields)}) "
        f"SELECT {', '.join(delivery_values)} FROM matched, unconditional WHERE ok "
        f"RETURNING {quote('id')}, {quote('rule_id')}) "
        "SELECT matched.*, stored.id FROM matched LEFT JOIN stored ON stored.rule_id = matched.id"
    )


def _match_and_store(event: Event) -> tuple[list[Rule], list[Delivery] | None]:
    """The rules matching the event, and its deliveries, stored with it in one statement, atomic
    on its own: no transaction round trips. The deliveries are None, and nothing is stored, when
    a rule has a condition, which only Python can evaluate (PostgreSQL)."""
    template = Delivery(event=event)
    fields = Delivery._meta.concrete_fields
    _, event_values = _insert_row(event)
    _, delivery_values = _insert_row(template)
    constants = [
        value for field, value in zip(fields, delivery_values, strict=True) if field.column not in _PER_MATCH_COLUMNS
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            _match_and_store_sql(connection.vendor), [event.event_type, True, True, *event_values, *constants]
        )
        rows = cursor.fetchall()
    rules = [_rule_from_row(row[:-1]) for row in rows]
    if any(row[-1] is None for row in rows):
        return rules, None
    event._state.adding, event._state.db = False, connection.alias
    deliveries = []
    for rule, row in zip(rules, rows, strict=True):
        delivery = Delivery(**{field.attname: getattr(template, field.attname) for field in fields})
        delivery.id, delivery.rule, delivery.channel = row[-1], rule, rule.channel
        delivery._state.adding, delivery._state.db = False, connection.alias
        deliveries.append(delivery)
    return rules, deliveries


def emit(
    *,
    actor: Any,
    event_type: str,
    payload: Any,
    idempotency_key: str | None = None,
    occurred_at: datetime | str | None = None,
) -> EmitResult:
    """Stores an event and one delivery per matching rule, and queues them once committed.

    A repeated idempotency key returns the first event and its deliveries and queues nothing; two
    concurrent emits with one key are settled by the unique constraint. Matching costs one query
    however many rules there are. On PostgreSQL an event without a key is matched and stored with
    its deliveries in that one statement; when a matching rule has a condition, it is stored in a
    second one, once Python has evaluated the conditions.
    """
    require_permission(actor, "notifications.add_event")
    reject_unstorable(payload, field="payload")  # first: a schema error would quote a bad key
    validate_payload(event_type, payload)
    key = _clean_idempotency_key(idempotency_key)
    event = Event(
        event_type=event_type, payload=payload, idempotency_key=key, occurred_at=_clean_occurred_at(occurred_at)
    )
    if key is None and connection.vendor == "postgresql":
        rules, stored = _match_and_store(event)
        deliveries = stored if stored is not None else _firing_deliveries(event, rules)
        if stored is None:
            _insert_event_and_deliveries(event, deliveries)
    else:
        deliveries = _firing_deliveries(event, _matching_rules(event_type))
        with transaction.atomic():
            try:
                with transaction.atomic():
                    event.save()
            except IntegrityError:
                if key is None:
                    raise
                return _existing_emit(key)
            if deliveries:
                Delivery.objects.bulk_create(deliveries)
    _enqueue_on_commit(deliveries)
    return EmitResult(event=event, deliveries=deliveries, created=True)


@transaction.atomic
def delivery_retry(*, actor: Any, delivery_id: Any) -> Delivery:
    """Replays a failed or skipped delivery: back to pending (its attempt count kept), queued on commit."""
    require_permission(actor, "notifications.change_delivery")
    delivery = delivery_get(actor=actor, delivery_id=delivery_id)
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.status not in (DeliveryStatus.FAILED, DeliveryStatus.SKIPPED):
        raise Conflict(
            f"Only a failed or skipped delivery can be retried; this one is {delivery.status}.",
            code=ErrorCode.DELIVERY_NOT_RETRYABLE,
        )
    previous = delivery.status
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = None
    delivery.claimed_at = None
    delivery.failure_stage = ""
    delivery.skip_reason = ""
    delivery.save()
    audit_entry_create(
        actor=actor,
        action="delivery.retry",
        object_type="delivery",
        object_id=delivery.pk,
        detail={"previous_status": previous, "attempts": delivery.attempts},
    )
    _enqueue_on_commit([delivery])
    return delivery


def _error(code: str, message: str) -> ValidateError:
    return {"code": code, "message": message}


def _outcome_error(outcome: Outcome) -> ValidateError | None:
    if outcome.status == "sent":
        return None
    if outcome.skip_reason == NO_SMTP_PROVIDER:
        return _error(ErrorCode.NO_SMTP_PROVIDER, "No SMTP provider is configured and the channel has no smtp block.")
    return _error(outcome.error_code, outcome.error_message)


def channel_validate(*, actor: Any, channel_id: Any, test_message: Any) -> ChannelValidateResult:
    """Sends a `notification.test` message now, through the same path as deliveries (SSRF guard
    included). Reports the outcome; the remote server's response body is never returned."""
    require_permission(actor, "notifications.change_channel")
    if not isinstance(test_message, str):
        raise ValidationError.for_field("test_message", "Expected a string.")
    if len(test_message) > TEST_MESSAGE_MAX_CHARS:
        raise ValidationError.for_field("test_message", f"At most {TEST_MESSAGE_MAX_CHARS} characters.")
    channel = channel_get(actor=actor, channel_id=channel_id)
    rate_limit_hit(actor=actor)
    payload = {"message": test_message or NOTIFICATION_TEST.example["message"]}
    outcome = attempt_send(
        channel=channel,
        event_type=NOTIFICATION_TEST.code,
        payload=payload,
        event_id=uuid.uuid4(),
        timestamp=timezone.now(),
        rule=None,
        message_template="",
        subject_template="",
        delivery_id=str(uuid.uuid4()),
    )
    success = outcome.status == "sent"
    audit_entry_create(
        actor=actor,
        action="channel.validate",
        object_type="channel",
        object_id=channel.pk,
        detail={"success": success, "error_code": outcome.error_code},
    )
    return {
        "success": success,
        "delivered_at": timezone.now() if success else None,
        "error": _outcome_error(outcome),
    }


def rule_validate(*, actor: Any, rule_id: Any, payload: Any = None, send: bool = False) -> RuleValidateResult:
    """A dry run: evaluates the condition and renders subject and body, with the event type's example
    payload when none is given. With `send`, a matching rule's message also goes out (which needs
    notifications.change_rule; the dry run needs only view)."""
    rule = rule_get(actor=actor, rule_id=rule_id)
    if send:
        require_permission(actor, "notifications.change_rule")
        rate_limit_hit(actor=actor)
    event_type = get_event_type(rule.event_type)
    if payload is None:
        payload = event_type.example
    else:
        validate_payload(rule.event_type, payload)
    event_id, timestamp = uuid.uuid4(), timezone.now()
    channel = rule.channel
    kind = get_kind(channel.channel_type)
    context = template_context(
        event_type=rule.event_type,
        payload=payload,
        event_id=event_id,
        timestamp=timestamp,
        rule=rule,
        channel=channel,
        sender=get_smtp_sender(),
    )
    result: RuleValidateResult = {"matched": True, "rendered": None, "sent": False, "error": None}
    if rule.condition:
        try:
            result["matched"] = rendering.evaluate_condition(rule.condition, context)
        except rendering.RenderError as exc:
            result["matched"] = False
            result["error"] = _error(exc.code, str(exc))
    try:
        rendered = kind.render(
            channel=channel,
            message_template=rule.message_template,
            subject_template=rule.subject_template,
            context=context,
        )
    except rendering.RenderError as exc:
        result["error"] = result["error"] or _error(exc.code, str(exc))
        return result
    subject = rendered.subject if channel.channel_type == ChannelType.EMAIL else None
    result["rendered"] = {"subject": subject, "body": rendered.body}
    if send and result["matched"]:
        outcome = attempt_send(
            channel=channel,
            event_type=rule.event_type,
            payload=payload,
            event_id=event_id,
            timestamp=timestamp,
            rule=rule,
            message_template=rule.message_template,
            subject_template=rule.subject_template,
            delivery_id=str(uuid.uuid4()),
        )
        result["sent"] = outcome.status == "sent"
        result["error"] = _outcome_error(outcome)
    return result
