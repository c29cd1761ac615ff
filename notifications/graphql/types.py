"""Output types. No field returns a secret: configs show has*/names markers, as `channel_public_config` does."""

from __future__ import annotations

from typing import Any

import graphene
from graphene_django import DjangoObjectType

from core.graphql import JSON, CountedConnection, Node, actor
from notifications.event_types import EventType
from notifications.models import (
    AttemptOutcome,
    Channel,
    ChannelType,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    FailureStage,
    Rule,
)
from notifications.selectors import channel_get, channel_public_config, delivery_get, event_get, rule_get

NotificationChannelType = graphene.Enum.from_enum(
    ChannelType, name="NotificationChannelType", description="The kind of a channel."
)
NotificationDeliveryStatus = graphene.Enum.from_enum(
    DeliveryStatus, name="NotificationDeliveryStatus", description="Where a delivery stands."
)
NotificationFailureStage = graphene.Enum.from_enum(
    FailureStage, name="NotificationFailureStage", description="The step at which a delivery failed."
)
NotificationAttemptOutcome = graphene.Enum.from_enum(
    AttemptOutcome, name="NotificationAttemptOutcome", description="How one delivery attempt ended."
)


class WebhookMethod(graphene.Enum):
    """The HTTP method a webhook is called with."""

    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"


# --- Channel configs: an interface with the channelType discriminator ---------------------------


class NotificationChannelConfigGQL(graphene.Interface):
    """A channel's config as anyone may read it: secrets show only as markers."""

    channel_type = NotificationChannelType(required=True)


class WebhookConfigGQL(graphene.ObjectType):
    class Meta:
        interfaces = (NotificationChannelConfigGQL,)

    url = graphene.String(required=True)
    method = WebhookMethod(required=True)
    timeout = graphene.Float(required=True, description="Seconds.")
    success_status_codes = graphene.List(
        graphene.NonNull(graphene.Int), required=True, description="Statuses that count as delivered; empty: any 2xx."
    )
    header_names = graphene.List(
        graphene.NonNull(graphene.String), required=True, description="The names of the (write-only) headers."
    )
    has_signing_secret = graphene.Boolean(required=True)


class EmailMessageConfig(graphene.ObjectType):
    from_email = graphene.String(description="Null: the SMTP provider's from address is used.")
    to_emails = graphene.List(graphene.NonNull(graphene.String), required=True)
    subject_template = graphene.String(required=True)

    @staticmethod
    def resolve_from_email(root: dict[str, Any], info: graphene.ResolveInfo) -> str | None:
        return root.get("from_email") or None


class SMTPConnectionConfig(graphene.ObjectType):
    host = graphene.String(required=True)
    port = graphene.Int(required=True)
    use_tls = graphene.Boolean(required=True, description="Implicit TLS on 465, STARTTLS otherwise.")
    timeout = graphene.Float(required=True, description="Seconds.")


class SMTPAuthConfig(graphene.ObjectType):
    username = graphene.String(required=True)
    has_password = graphene.Boolean(required=True)


class EmailConfigGQL(graphene.ObjectType):
    class Meta:
        interfaces = (NotificationChannelConfigGQL,)

    message = graphene.Field(EmailMessageConfig, required=True)
    smtp = graphene.Field(SMTPConnectionConfig, description="Null: sent through the runtime SMTP provider.")
    auth = graphene.Field(SMTPAuthConfig)


# One output type per registered channel kind (a test pins that they match).
CONFIG_TYPES: dict[str, type[graphene.ObjectType]] = {"webhook": WebhookConfigGQL, "email": EmailConfigGQL}


# --- Channels, rules, events, deliveries --------------------------------------------------------


class NotificationChannel(DjangoObjectType):
    """Where a message goes: a webhook or an email list."""

    class Meta:
        model = Channel
        interfaces = (Node,)
        fields = ("name", "description", "enabled", "created_at", "updated_at")
        connection_class = CountedConnection

    notification_channel_id = graphene.UUID(required=True)
    channel_type = NotificationChannelType(required=True)
    config = graphene.Field(NotificationChannelConfigGQL, required=True)

    @staticmethod
    def resolve_notification_channel_id(root: Channel, info: graphene.ResolveInfo) -> Any:
        return root.pk

    @staticmethod
    def resolve_config(root: Channel, info: graphene.ResolveInfo) -> graphene.ObjectType:
        return CONFIG_TYPES[root.channel_type](channel_type=root.channel_type, **channel_public_config(root))

    @classmethod
    def get_node(cls, info: graphene.ResolveInfo, id: str) -> Channel:
        return channel_get(actor=actor(info), channel_id=id)


class NotificationRule(DjangoObjectType):
    """Which event type goes to which channel, rendered with which templates, under which condition."""

    class Meta:
        model = Rule
        interfaces = (Node,)
        fields = (
            "name",
            "description",
            "event_type",
            "message_template",
            "subject_template",
            "condition",
            "enabled",
            "created_at",
            "updated_at",
        )
        connection_class = CountedConnection

    notification_rule_id = graphene.UUID(required=True)
    channel = graphene.Field(NotificationChannel, required=True)

    @staticmethod
    def resolve_notification_rule_id(root: Rule, info: graphene.ResolveInfo) -> Any:
        return root.pk

    @classmethod
    def get_node(cls, info: graphene.ResolveInfo, id: str) -> Rule:
        return rule_get(actor=actor(info), rule_id=id)


class NotificationEvent(DjangoObjectType):
    """An emitted event."""

    class Meta:
        model = Event
        interfaces = (Node,)
        fields = ("event_type", "idempotency_key", "occurred_at", "received_at")

    notification_event_id = graphene.UUID(required=True)
    payload = JSON(required=True)

    @staticmethod
    def resolve_notification_event_id(root: Event, info: graphene.ResolveInfo) -> Any:
        return root.pk

    @classmethod
    def get_node(cls, info: graphene.ResolveInfo, id: str) -> Event:
        return event_get(actor=actor(info), event_id=id)


class NotificationDeliveryAttempt(DjangoObjectType):
    """One try at sending a delivery."""

    class Meta:
        model = DeliveryAttempt
        fields = ("number", "started_at", "finished_at", "transient", "status_code", "excerpt")

    outcome = NotificationAttemptOutcome(required=True)
    failure_stage = NotificationFailureStage()
    error_code = graphene.String()

    @staticmethod
    def resolve_failure_stage(root: DeliveryAttempt, info: graphene.ResolveInfo) -> str | None:
        return root.failure_stage or None

    @staticmethod
    def resolve_error_code(root: DeliveryAttempt, info: graphene.ResolveInfo) -> str | None:
        return root.error_code or None


class NotificationDelivery(DjangoObjectType):
    """One event delivered through one rule, with its attempts."""

    class Meta:
        model = Delivery
        interfaces = (Node,)
        fields = ("next_attempt_at", "last_error", "sent_at", "created_at", "updated_at")
        connection_class = CountedConnection

    notification_delivery_id = graphene.UUID(required=True)
    status = NotificationDeliveryStatus(required=True)
    attempt_count = graphene.Int(required=True)
    failure_stage = NotificationFailureStage()
    skip_reason = graphene.String(description="Why it was skipped, e.g. `no_smtp_provider`.")
    event = graphene.Field(NotificationEvent, required=True)
    rule = graphene.Field(NotificationRule, description="Null once the rule is deleted.")
    channel = graphene.Field(NotificationChannel, description="Null once the channel is deleted.")
    attempts = graphene.List(graphene.NonNull(NotificationDeliveryAttempt), required=True)

    @staticmethod
    def resolve_notification_delivery_id(root: Delivery, info: graphene.ResolveInfo) -> Any:
        return root.pk

    @staticmethod
    def resolve_attempt_count(root: Delivery, info: graphene.ResolveInfo) -> int:
        return root.attempts

    @staticmethod
    def resolve_failure_stage(root: Delivery, info: graphene.ResolveInfo) -> str | None:
        return root.failure_stage or None

    @staticmethod
    def resolve_skip_reason(root: Delivery, info: graphene.ResolveInfo) -> str | None:
        return root.skip_reason or None

    @staticmethod
    def resolve_attempts(root: Delivery, info: graphene.ResolveInfo) -> list[DeliveryAttempt]:
        return list(root.attempt_log.all())

    @classmethod
    def get_node(cls, info: graphene.ResolveInfo, id: str) -> Delivery:
        return delivery_get(actor=actor(info), delivery_id=id)


class NotificationEventType(graphene.ObjectType):
    """A registered event type: its payload JSON schema and an example payload."""

    event_type = graphene.String(required=True)
    description = graphene.String(required=True)
    json_schema = JSON(required=True)
    example = JSON(required=True)

    @staticmethod
    def resolve_event_type(root: EventType, info: graphene.ResolveInfo) -> str:
        return root.code

    @staticmethod
    def resolve_json_schema(root: EventType, info: graphene.ResolveInfo) -> dict[str, Any]:
        return root.schema
