import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.crypto import SecretJSONField


class ChannelType(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    EMAIL = "email", "Email"


class Channel(models.Model):
    """Where a message goes. `config` holds the kind's public settings, `secrets` the write-only ones."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=256, unique=True)
    description = models.TextField(blank=True, default="")
    channel_type = models.CharField(max_length=32, choices=ChannelType.choices)
    config = models.JSONField(default=dict)
    secrets = SecretJSONField(default=dict, blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Channel {self.id} {self.name!r} {self.channel_type}>"


class Rule(models.Model):
    """Which event type goes to which channel, rendered with which templates, under which condition."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=256)
    description = models.TextField(blank=True, default="")
    event_type = models.CharField(max_length=128)
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="rules")
    message_template = models.TextField(blank=True, default="")
    subject_template = models.TextField(blank=True, default="")
    condition = models.TextField(blank=True, default="")
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            # emit() reads only enabled rules of one event type: a partial index keeps that a seek.
            models.Index(fields=["event_type"], condition=Q(enabled=True), name="rule_enabled_event_type_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class Event(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event_type = models.CharField(max_length=128)
    payload = models.JSONField(default=dict)
    # NULL rather than "" when absent: the unique constraint below admits any number of NULLs.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-received_at"]
        # Declared here rather than with db_index/unique on the fields, which on PostgreSQL would add
        # a second, LIKE-only index to each that no query uses and every emit() would maintain.
        constraints = [models.UniqueConstraint(fields=["idempotency_key"], name="event_idempotency_key_unique")]
        indexes = [models.Index(fields=["event_type"], name="event_type_idx")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SENDING = "sending"
    RETRYING = "retrying"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"


class FailureStage(models.TextChoices):
    RESOLVE_PROVIDER = "resolve_provider"
    RENDER_TEMPLATE = "render_template"
    SMTP_SEND = "smtp_send"
    WEBHOOK_SEND = "webhook_send"


class Delivery(models.Model):
    """One event delivered through one rule. Claimed atomically by a worker before it sends."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: the unique (event, rule) constraint's index starts with it.
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    rule = models.ForeignKey(Rule, on_delete=models.SET_NULL, null=True, related_name="deliveries")
    channel = models.ForeignKey(Channel, on_delete=models.SET_NULL, null=True, related_name="deliveries")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    failure_stage = models.CharField(max_length=32, choices=FailureStage.choices, blank=True, default="")
    skip_reason = models.CharField(max_length=64, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "rule"], name="delivery_one_per_event_rule"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_status_next_idx"),
            models.Index(fields=["created_at"], name="delivery_created_idx"),
            # A drain's claim: the pending rows of one channel, oldest first (notifications.delivery).
            models.Index(
                fields=["channel", "created_at"],
                condition=Q(status="pending"),
                name="delivery_pending_channel_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"delivery {self.id} ({self.status})"


class AttemptOutcome(models.TextChoices):
    SENT = "sent"
    SKIPPED = "skipped"
    TRANSIENT_ERROR = "transient_error"
    PERMANENT_ERROR = "permanent_error"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    outcome = models.CharField(max_length=32, choices=AttemptOutcome.choices)
    transient = models.BooleanField(default=False)
    failure_stage = models.CharField(max_length=32, choices=FailureStage.choices, blank=True, default="")
    status_code = models.IntegerField(null=True, blank=True, help_text="SMTP reply code or HTTP status.")
    error_code = models.CharField(max_length=64, blank=True, default="")
    excerpt = models.CharField(max_length=500, blank=True, default="", help_text="Short, redacted.")

    class Meta:
        ordering = ["delivery_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="attempt_one_per_number"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.outcome}"
