"""Channels and rules (saved by the services), events and deliveries (read-only, retry from here)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from core.admin_site import ServiceModelAdmin, domain_error_text
from core.errors import DomainError
from notifications.event_types import get_event_type
from notifications.forms import (
    EMAIL_FIELDS,
    EMAIL_SMTP_FIELDS,
    WEBHOOK_FIELDS,
    ChannelForm,
    ChannelTestForm,
    RuleForm,
    RulePreviewForm,
)
from notifications.models import Channel, ChannelType, Delivery, DeliveryAttempt, DeliveryStatus, Event, Rule
from notifications.selectors import channel_public_config
from notifications.services import (
    ChannelValidateResult,
    channel_delete,
    channel_validate,
    delivery_retry,
    rule_delete,
    rule_validate,
)

Fieldsets = list[tuple[str | None, dict[str, Any]]]
RETRYABLE = (DeliveryStatus.FAILED, DeliveryStatus.SKIPPED)
HISTORY = ("History", {"fields": ["created_by", "created_at", "updated_at"], "classes": ["collapse"]})


def _pretty_json(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def _validate_outcome(result: ChannelValidateResult) -> str:
    error = result["error"]
    return "Sent." if result["success"] or error is None else f"{error['code']}: {error['message']}"


def _link(obj: Any, text: Any = None) -> str:
    if obj is None:
        return "-"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text if text is not None else obj)


class ServiceDeleteMixin:
    """Deletes through the service (`delete_one`), one object at a time, bulk deletes too."""

    def delete_one(self, request: HttpRequest, obj: Any) -> None:
        raise NotImplementedError

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.delete_one(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_one(request, obj)


@admin.register(Channel)
class ChannelAdmin(ServiceDeleteMixin, ServiceModelAdmin):
    form = ChannelForm
    object_views = {"test": "test_view"}
    actions = ["send_test_message"]
    change_form_template = "admin/notifications/channel/change_form.html"
    list_display = ["name", "channel_type", "enabled", "target", "updated_at"]
    list_filter = ["channel_type", "enabled"]
    search_fields = ["name", "description"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Fieldsets:
        main: Fieldsets = [(None, {"fields": ["name", "description", "channel_type", "enabled"]})]
        if obj is not None and not self.has_change_permission(request, obj):
            return [*main, ("Configuration", {"fields": ["configuration"]}), HISTORY]
        kinds = [obj.channel_type] if obj is not None else [ChannelType.WEBHOOK, ChannelType.EMAIL]
        kind_fieldsets: dict[str, Fieldsets] = {
            ChannelType.WEBHOOK: [("Webhook", {"fields": list(WEBHOOK_FIELDS), "classes": ["kind-webhook"]})],
            ChannelType.EMAIL: [
                ("Email", {"fields": list(EMAIL_FIELDS), "classes": ["kind-email"]}),
                (
                    "Email: own SMTP server (optional)",
                    {
                        "fields": list(EMAIL_SMTP_FIELDS),
                        "classes": ["kind-email"],
                        "description": "Leave the host blank to send through the runtime SMTP provider.",
                    },
                ),
            ],
        }
        fieldsets = main + [fieldset for kind in kinds for fieldset in kind_fieldsets[kind]]
        return fieldsets + ([HISTORY] if obj is not None else [])

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The kind is chosen when the channel is created; its form then fits that kind.
        return ["channel_type", "created_by", "created_at", "updated_at"] if obj is not None else []

    @admin.display(description="Target")
    def target(self, obj: Channel) -> str:
        if obj.channel_type == ChannelType.WEBHOOK:
            return obj.config.get("url", "")
        return ", ".join(obj.config.get("message", {}).get("to_emails", []))

    @admin.display(description="Configuration (secrets are never shown)")
    def configuration(self, obj: Channel) -> str:
        return _pretty_json(channel_public_config(obj))

    def delete_one(self, request: HttpRequest, obj: Channel) -> None:
        channel_delete(actor=request.user, channel_id=obj.pk)

    def has_test_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_change_permission(request, obj)

    def object_tools(self, request: HttpRequest, obj: Channel) -> list[tuple[str, str]]:
        if not self.has_test_permission(request, obj):
            return []
        return [("Send test message", reverse("admin:notifications_channel_test", args=[obj.pk]))]

    @admin.action(description="Send a test message through the selected channels", permissions=["test"])
    def send_test_message(self, request: HttpRequest, queryset: QuerySet[Channel]) -> None:
        text = ChannelTestForm.base_fields["test_message"].initial
        for channel in queryset:
            try:
                result = channel_validate(actor=request.user, channel_id=channel.pk, test_message=text)
            except DomainError as exc:
                self.message_domain_error(request, exc)
                continue
            level = messages.SUCCESS if result["success"] else messages.ERROR
            self.message_user(request, f"{channel.name}: {_validate_outcome(result)}", level)

    def test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        channel = self.get_object_or_deny(request, object_id, self.has_test_permission)
        form = ChannelTestForm(request.POST or None)
        result: list[tuple[str, Any]] = []
        if request.method == "POST" and form.is_valid():
            try:
                outcome = channel_validate(
                    actor=request.user, channel_id=channel.pk, test_message=form.cleaned_data["test_message"]
                )
            except DomainError as exc:
                self.message_domain_error(request, exc)
            else:
                level = messages.SUCCESS if outcome["success"] else messages.ERROR
                self.message_user(request, _validate_outcome(outcome), level)
                result = [("Success", outcome["success"]), ("Delivered at", outcome["delivered_at"] or "-")]
        return self.render_object_view(
            request,
            channel,
            title="Send test message",
            form=form,
            submit_label="Send test message",
            result=result,
            intro="Sends a notification.test message through this channel now, as a delivery would.",
        )


@admin.register(Rule)
class RuleAdmin(ServiceDeleteMixin, ServiceModelAdmin):
    form = RuleForm
    object_views = {"preview": "preview_view"}
    list_display = ["name", "event_type", "channel_link", "enabled", "updated_at"]
    list_filter = ["event_type", "channel", "enabled"]
    list_select_related = ["channel"]
    search_fields = ["name", "description", "event_type"]
    fieldsets = [
        (None, {"fields": ["name", "description", "event_type", "channel", "enabled"]}),
        ("Templates", {"fields": ["subject_template", "message_template", "condition"]}),
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Fieldsets:
        return [*self.fieldsets, HISTORY] if obj is not None else list(self.fieldsets)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["created_by", "created_at", "updated_at"] if obj is not None else []

    @admin.display(description="Channel", ordering="channel__name")
    def channel_link(self, obj: Rule) -> str:
        return _link(obj.channel)

    def delete_one(self, request: HttpRequest, obj: Rule) -> None:
        rule_delete(actor=request.user, rule_id=obj.pk)

    def object_tools(self, request: HttpRequest, obj: Rule) -> list[tuple[str, str]]:
        return [("Preview", reverse("admin:notifications_rule_preview", args=[obj.pk]))]

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        rule = self.get_object_or_deny(request, object_id, self.has_view_permission)
        example = json.dumps(get_event_type(rule.event_type).example, indent=2, ensure_ascii=False)
        form = RulePreviewForm(request.POST or None, initial={"payload": example})
        if not self.has_change_permission(request, rule):
            del form.fields["send"]
        result: list[tuple[str, Any]] = []
        if request.method == "POST" and form.is_valid():
            try:
                outcome = rule_validate(
                    actor=request.user,
                    rule_id=rule.pk,
                    payload=form.cleaned_data["payload"],
                    send=form.cleaned_data.get("send", False),
                )
            except DomainError as exc:
                form.add_error("payload", domain_error_text(exc))
            else:
                rendered, error = outcome["rendered"] or {"subject": None, "body": ""}, outcome["error"]
                result = [("Condition matched", outcome["matched"])]
                if rendered["subject"] is not None:
                    result.append(("Subject", rendered["subject"]))
                result.append(("Body", rendered["body"]))
                if form.cleaned_data.get("send"):
                    result.append(("Sent", outcome["sent"]))
                if error:
                    result.append(("Error", f"{error['code']}: {error['message']}"))
        return self.render_object_view(
            request,
            rule,
            title="Preview",
            form=form,
            submit_label="Preview",
            result=result,
            intro=f"Renders this rule against a {rule.event_type} payload: the example, or one you paste.",
        )


class ReadOnlyAdminMixin:
    """Nobody adds, changes or deletes these here; the pipeline writes them."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DeliveryAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DeliveryAttempt
    fields = [
        "number",
        "started_at",
        "finished_at",
        "outcome",
        "transient",
        "failure_stage",
        "status_code",
        "error_code",
        "excerpt",
    ]
    readonly_fields = fields
    extra = 0
    verbose_name_plural = "attempts"


class EventDeliveryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Delivery
    fields = ["delivery", "status", "channel", "rule", "attempts", "updated_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = False

    @admin.display(description="Delivery")
    def delivery(self, obj: Delivery) -> str:
        return _link(obj, str(obj.pk)[:8])


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "event_type", "occurred_at", "received_at", "idempotency_key"]
    list_filter = ["event_type", ("received_at", admin.DateFieldListFilter)]
    search_fields = ["=id", "=idempotency_key"]
    date_hierarchy = "received_at"
    fields = ["id", "event_type", "idempotency_key", "occurred_at", "received_at", "payload_json"]
    readonly_fields = fields
    inlines = [EventDeliveryInline]

    @admin.display(description="Payload")
    def payload_json(self, obj: Event) -> str:
        return _pretty_json(obj.payload)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, ServiceModelAdmin):
    list_display = [
        "short_id",
        "status",
        "event_type",
        "channel_link",
        "rule_link",
        "attempts",
        "reason",
        "created_at",
    ]
    list_filter = [
        "status",
        "event__event_type",
        "channel",
        "rule",
        ("created_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["event", "channel", "rule"]
    date_hierarchy = "created_at"
    fields = [
        "id",
        "status",
        "event_link",
        "channel_link",
        "rule_link",
        "attempts",
        "next_attempt_at",
        "failure_stage",
        "skip_reason",
        "last_error",
        "sent_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    inlines = [DeliveryAttemptInline]
    object_views = {"retry": "retry_view"}
    actions = ["retry"]

    @admin.display(description="Delivery", ordering="id")
    def short_id(self, obj: Delivery) -> str:
        return str(obj.pk)[:8]

    @admin.display(description="Event type", ordering="event__event_type")
    def event_type(self, obj: Delivery) -> str:
        return obj.event.event_type

    @admin.display(description="Event")
    def event_link(self, obj: Delivery) -> str:
        return _link(obj.event)

    @admin.display(description="Channel", ordering="channel__name")
    def channel_link(self, obj: Delivery) -> str:
        return _link(obj.channel)

    @admin.display(description="Rule", ordering="rule__name")
    def rule_link(self, obj: Delivery) -> str:
        return _link(obj.rule)

    @admin.display(description="Failure stage / skip reason")
    def reason(self, obj: Delivery) -> str:
        return obj.failure_stage or obj.skip_reason or ""

    def has_retry_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("notifications.change_delivery")

    def object_tools(self, request: HttpRequest, obj: Delivery) -> list[tuple[str, str]]:
        if obj.status not in RETRYABLE or not self.has_retry_permission(request, obj):
            return []
        return [("Retry", reverse("admin:notifications_delivery_retry", args=[obj.pk]))]

    @admin.action(description="Retry the selected failed or skipped deliveries", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        retried = 0
        for delivery in queryset:
            try:
                delivery_retry(actor=request.user, delivery_id=delivery.pk)
            except DomainError as exc:
                self.message_user(request, f"{str(delivery.pk)[:8]}: {domain_error_text(exc)}", messages.WARNING)
            else:
                retried += 1
        if retried:
            self.message_user(request, f"Queued {retried} delivery(ies) again.", messages.SUCCESS)

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        delivery = self.get_object_or_deny(request, object_id, self.has_retry_permission)
        if request.method == "POST":
            try:
                delivery_retry(actor=request.user, delivery_id=delivery.pk)
            except DomainError as exc:
                self.message_domain_error(request, exc)
            else:
                self.message_user(request, "The delivery is queued again.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:notifications_delivery_change", args=[delivery.pk]))
        return self.render_object_view(
            request,
            delivery,
            title="Retry",
            form=forms.Form(),
            submit_label="Retry now",
            intro=f"Queues this {delivery.status} delivery again; its attempts so far are kept.",
        )
