"""Queries and mutations for channels, rules, event types, events and deliveries.

Each resolver parses its arguments, calls one selector or service, and shapes the result; the
services check permissions. Mutations answer ``<Name>PayloadSuccess | <Name>PayloadError``.
"""

from __future__ import annotations

from typing import Any

import graphene
from django.db.models import QuerySet

from core.graphql import JSON, PageConnectionField, actor, parse_id, payload, plain
from notifications.event_types import EventType
from notifications.graphql.filters import (
    CHANNEL_LOOKUPS,
    DELIVERY_LOOKUPS,
    RULE_LOOKUPS,
    NotificationChannelFilter,
    NotificationChannelOrderBy,
    NotificationDeliveryFilter,
    NotificationRuleFilter,
    NotificationRuleOrderBy,
    filtered,
)
from notifications.graphql.inputs import (
    CreateNotificationChannelInput,
    CreateNotificationRuleInput,
    UpdateNotificationChannelInput,
    UpdateNotificationRuleInput,
    channel_arguments,
    rule_arguments,
)
from notifications.graphql.types import (
    CONFIG_TYPES,
    NotificationChannel,
    NotificationDelivery,
    NotificationEvent,
    NotificationEventType,
    NotificationRule,
)
from notifications.models import Channel, Delivery, Rule
from notifications.selectors import (
    channel_get,
    channel_list,
    delivery_get,
    delivery_list,
    event_type_get,
    event_type_list,
    rule_get,
    rule_list,
)
from notifications.services import (
    channel_create,
    channel_delete,
    channel_update,
    channel_validate,
    delivery_retry,
    emit,
    rule_create,
    rule_delete,
    rule_update,
    rule_validate,
)

# --- Queries -----------------------------------------------------------------------------------


class NotificationQuery(graphene.ObjectType):
    notification_channels = PageConnectionField(
        NotificationChannel,
        filter=NotificationChannelFilter(),
        order_by=NotificationChannelOrderBy(),
        description="Channels. Needs NotificationViewer.",
    )
    notification_channel = graphene.Field(
        NotificationChannel, id=graphene.ID(required=True, description="A global id or the channel's UUID.")
    )
    notification_rules = PageConnectionField(
        NotificationRule,
        filter=NotificationRuleFilter(),
        order_by=NotificationRuleOrderBy(),
        description="Rules, each with its channel. Needs NotificationViewer.",
    )
    notification_rule = graphene.Field(
        NotificationRule, id=graphene.ID(required=True, description="A global id or the rule's UUID.")
    )
    notification_event_types = graphene.List(
        graphene.NonNull(NotificationEventType),
        required=True,
        search=graphene.String(description="Keeps the types whose code or description contains it."),
        description="The registered event types.",
    )
    notification_event_type_schema = graphene.Field(
        NotificationEventType,
        event_type=graphene.String(required=True),
        description="One event type with its payload JSON schema and an example payload.",
    )
    notification_deliveries = PageConnectionField(
        NotificationDelivery,
        filter=NotificationDeliveryFilter(),
        description="Deliveries, newest first, each with its attempts. Needs NotificationViewer.",
    )
    notification_delivery = graphene.Field(
        NotificationDelivery, id=graphene.ID(required=True, description="A global id or the delivery's UUID.")
    )

    @staticmethod
    def resolve_notification_channels(
        root: None, info: graphene.ResolveInfo, filter: Any = None, order_by: Any = None, **_page: Any
    ) -> QuerySet[Channel]:
        return filtered(channel_list(actor=actor(info)), filter, CHANNEL_LOOKUPS, order_by or "name")

    @staticmethod
    def resolve_notification_channel(root: None, info: graphene.ResolveInfo, id: str) -> Channel:
        return channel_get(actor=actor(info), channel_id=parse_id(id, "NotificationChannel"))

    @staticmethod
    def resolve_notification_rules(
        root: None, info: graphene.ResolveInfo, filter: Any = None, order_by: Any = None, **_page: Any
    ) -> QuerySet[Rule]:
        return filtered(rule_list(actor=actor(info)), filter, RULE_LOOKUPS, order_by or "name")

    @staticmethod
    def resolve_notification_rule(root: None, info: graphene.ResolveInfo, id: str) -> Rule:
        return rule_get(actor=actor(info), rule_id=parse_id(id, "NotificationRule"))

    @staticmethod
    def resolve_notification_event_types(
        root: None, info: graphene.ResolveInfo, search: str | None = None
    ) -> list[EventType]:
        return event_type_list(actor=actor(info), search=search or "")

    @staticmethod
    def resolve_notification_event_type_schema(root: None, info: graphene.ResolveInfo, event_type: str) -> EventType:
        return event_type_get(actor=actor(info), code=event_type)

    @staticmethod
    def resolve_notification_deliveries(
        root: None, info: graphene.ResolveInfo, filter: Any = None, **_page: Any
    ) -> QuerySet[Delivery]:
        deliveries = delivery_list(actor=actor(info)).select_related("rule__channel").prefetch_related("attempt_log")
        return filtered(deliveries, filter, DELIVERY_LOOKUPS, "-created_at")

    @staticmethod
    def resolve_notification_delivery(root: None, info: graphene.ResolveInfo, id: str) -> Delivery:
        return delivery_get(actor=actor(info), delivery_id=parse_id(id, "NotificationDelivery"))


# --- Mutations ---------------------------------------------------------------------------------


class ValidateError(graphene.ObjectType):
    """Why a test send or a rendering failed, e.g. WEBHOOK_BAD_STATUS or TEMPLATE_ERROR."""

    code = graphene.String(required=True)
    message = graphene.String(required=True)


class RenderedMessage(graphene.ObjectType):
    subject = graphene.String(description="Null for channels without a subject (webhooks).")
    body = graphene.String(required=True)


CREATE_CHANNEL = payload(
    "CreateNotificationChannel",
    "The channel was created.",
    notification_channel=graphene.Field(NotificationChannel, required=True),
)
UPDATE_CHANNEL = payload(
    "UpdateNotificationChannel",
    "The channel was updated.",
    notification_channel=graphene.Field(NotificationChannel, required=True),
)
DELETE_CHANNEL = payload(
    "DeleteNotificationChannel",
    "The channel was deleted.",
    deleted_id=graphene.ID(required=True, description="Its global id."),
)
VALIDATE_CHANNEL = payload(
    "ValidateNotificationChannel",
    "The test message was attempted; `success` says whether it was delivered.",
    success=graphene.Boolean(required=True),
    delivered_at=graphene.DateTime(),
    error=graphene.Field(ValidateError),
)
CREATE_RULE = payload(
    "CreateNotificationRule", "The rule was created.", notification_rule=graphene.Field(NotificationRule, required=True)
)
UPDATE_RULE = payload(
    "UpdateNotificationRule", "The rule was updated.", notification_rule=graphene.Field(NotificationRule, required=True)
)
DELETE_RULE = payload(
    "DeleteNotificationRule",
    "The rule was deleted.",
    deleted_id=graphene.ID(required=True, description="Its global id."),
)
VALIDATE_RULE = payload(
    "ValidateNotificationRule",
    "The dry run's result: whether the condition matched, the rendered message, and whether it was sent.",
    matched=graphene.Boolean(required=True),
    rendered=graphene.Field(RenderedMessage),
    sent=graphene.Boolean(required=True),
    error=graphene.Field(ValidateError),
)
EMIT_EVENT = payload(
    "EmitNotificationEvent",
    "The event was stored and its deliveries queued; with a known idempotency key, the first event.",
    event=graphene.Field(NotificationEvent, required=True),
    deliveries=graphene.List(graphene.NonNull(NotificationDelivery), required=True),
    created=graphene.Boolean(required=True, description="False when the idempotency key was seen before."),
)
RETRY_DELIVERY = payload(
    "RetryNotificationDelivery",
    "The delivery is pending again and queued.",
    notification_delivery=graphene.Field(NotificationDelivery, required=True),
)


def _global_id(type_name: str, object_id: str) -> str:
    return graphene.relay.Node.to_global_id(type_name, object_id)


class CreateNotificationChannel(graphene.Mutation):
    """Creates a channel. Needs NotificationWriter."""

    class Arguments:
        input = CreateNotificationChannelInput(required=True)

    Output = CREATE_CHANNEL.union

    @staticmethod
    @CREATE_CHANNEL.returns
    def mutate(root: None, info: graphene.ResolveInfo, input: Any) -> dict[str, Any]:
        return {"notification_channel": channel_create(actor=actor(info), **channel_arguments(input))}


class UpdateNotificationChannel(graphene.Mutation):
    """Changes the given fields of a channel; a config that omits a secret keeps it. Needs NotificationWriter."""

    class Arguments:
        input = UpdateNotificationChannelInput(required=True)

    Output = UPDATE_CHANNEL.union

    @staticmethod
    @UPDATE_CHANNEL.returns
    def mutate(root: None, info: graphene.ResolveInfo, input: Any) -> dict[str, Any]:
        channel = channel_update(
            actor=actor(info), channel_id=parse_id(input["id"], "NotificationChannel"), **channel_arguments(input)
        )
        return {"notification_channel": channel}


class DeleteNotificationChannel(graphene.Mutation):
    """Deletes a channel; CHANNEL_IN_USE while rules use it. Needs NotificationWriter."""

    class Arguments:
        id = graphene.ID(required=True, description="A global id or the channel's UUID.")

    Output = DELETE_CHANNEL.union

    @staticmethod
    @DELETE_CHANNEL.returns
    def mutate(root: None, info: graphene.ResolveInfo, id: str) -> dict[str, Any]:
        channel_id = parse_id(id, "NotificationChannel")
        channel_delete(actor=actor(info), channel_id=channel_id)
        return {"deleted_id": _global_id("NotificationChannel", channel_id)}


class ValidateNotificationChannel(graphene.Mutation):
    """Sends a test message through the channel now and reports the outcome. Needs NotificationWriter."""

    class Arguments:
        id = graphene.ID(required=True, description="A global id or the channel's UUID.")
        test_message = graphene.String(required=True)

    Output = VALIDATE_CHANNEL.union

    @staticmethod
    @VALIDATE_CHANNEL.returns
    def mutate(root: None, info: graphene.ResolveInfo, id: str, test_message: str) -> dict[str, Any]:
        return dict(
            channel_validate(
                actor=actor(info), channel_id=parse_id(id, "NotificationChannel"), test_message=test_message
            )
        )


class CreateNotificationRule(graphene.Mutation):
    """Creates a rule; its templates are checked against the event type's example. Needs NotificationWriter."""

    class Arguments:
        input = CreateNotificationRuleInput(required=True)

    Output = CREATE_RULE.union

    @staticmethod
    @CREATE_RULE.returns
    def mutate(root: None, info: graphene.ResolveInfo, input: Any) -> dict[str, Any]:
        return {"notification_rule": rule_create(actor=actor(info), **rule_arguments(input))}


class UpdateNotificationRule(graphene.Mutation):
    """Changes the given fields of a rule. Needs NotificationWriter."""

    class Arguments:
        input = UpdateNotificationRuleInput(required=True)

    Output = UPDATE_RULE.union

    @staticmethod
    @UPDATE_RULE.returns
    def mutate(root: None, info: graphene.ResolveInfo, input: Any) -> dict[str, Any]:
        rule = rule_update(
            actor=actor(info), rule_id=parse_id(input["id"], "NotificationRule"), **rule_arguments(input)
        )
        return {"notification_rule": rule}


class DeleteNotificationRule(graphene.Mutation):
    """Deletes a rule. Needs NotificationWriter."""

    class Arguments:
        id = graphene.ID(required=True, description="A global id or the rule's UUID.")

    Output = DELETE_RULE.union

    @staticmethod
    @DELETE_RULE.returns
    def mutate(root: None, info: graphene.ResolveInfo, id: str) -> dict[str, Any]:
        rule_id = parse_id(id, "NotificationRule")
        rule_delete(actor=actor(info), rule_id=rule_id)
        return {"deleted_id": _global_id("NotificationRule", rule_id)}


class ValidateNotificationRule(graphene.Mutation):
    """A dry run: evaluates the condition and renders the message, with the event type's example payload
    when none is given. Needs NotificationViewer; with `send`, NotificationWriter."""

    class Arguments:
        id = graphene.ID(required=True, description="A global id or the rule's UUID.")
        payload = JSON(description="An event payload; the event type's example when omitted.")
        send = graphene.Boolean(default_value=False, description="Also send the message when the rule matches.")

    Output = VALIDATE_RULE.union

    @staticmethod
    @VALIDATE_RULE.returns
    def mutate(root: None, info: graphene.ResolveInfo, id: str, send: bool, payload: Any = None) -> dict[str, Any]:
        return dict(
            rule_validate(actor=actor(info), rule_id=parse_id(id, "NotificationRule"), payload=payload, send=send)
        )


class EmitNotificationEvent(graphene.Mutation):
    """Emits an event: stores it and queues one delivery per matching rule. Needs EventPublisher."""

    class Arguments:
        event_type = graphene.String(required=True)
        payload = JSON(required=True, description="Checked against the event type's JSON schema.")
        idempotency_key = graphene.String(description="Emitting a key again returns the first event, sends nothing.")
        occurred_at = graphene.DateTime(description="Now when omitted.")

    Output = EMIT_EVENT.union

    @staticmethod
    @EMIT_EVENT.returns
    def mutate(root: None, info: graphene.ResolveInfo, **arguments: Any) -> dict[str, Any]:
        result = emit(actor=actor(info), **plain(arguments))
        return {"event": result.event, "deliveries": result.deliveries, "created": result.created}


class RetryNotificationDelivery(graphene.Mutation):
    """Replays a failed or skipped delivery (DELIVERY_NOT_RETRYABLE otherwise). Needs NotificationWriter."""

    class Arguments:
        id = graphene.ID(required=True, description="A global id or the delivery's UUID.")

    Output = RETRY_DELIVERY.union

    @staticmethod
    @RETRY_DELIVERY.returns
    def mutate(root: None, info: graphene.ResolveInfo, id: str) -> dict[str, Any]:
        return {
            "notification_delivery": delivery_retry(actor=actor(info), delivery_id=parse_id(id, "NotificationDelivery"))
        }


class NotificationMutation(graphene.ObjectType):
    create_notification_channel = CreateNotificationChannel.Field()
    update_notification_channel = UpdateNotificationChannel.Field()
    delete_notification_channel = DeleteNotificationChannel.Field()
    validate_notification_channel = ValidateNotificationChannel.Field()
    create_notification_rule = CreateNotificationRule.Field()
    update_notification_rule = UpdateNotificationRule.Field()
    delete_notification_rule = DeleteNotificationRule.Field()
    validate_notification_rule = ValidateNotificationRule.Field()
    emit_notification_event = EmitNotificationEvent.Field()
    retry_notification_delivery = RetryNotificationDelivery.Field()


# Types reached only through an interface, which the schema must be told about.
TYPES = list(CONFIG_TYPES.values())
