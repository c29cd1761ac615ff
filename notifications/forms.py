"""Admin forms for channels and rules: fields that fit each channel kind, mapped onto the kind's config
dict and saved by the services, whose errors land at the matching field."""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from django import forms

from core.admin_site import ServiceModelForm
from notifications.channel_kinds.webhook import METHODS
from notifications.event_types import registered_event_types
from notifications.models import Channel, ChannelType, Rule
from notifications.services import channel_create, channel_update, rule_create, rule_update

SECRET_ATTRS = {"autocomplete": "new-password"}
_LIST_SEPARATOR = re.compile(r"[\s,;]+")

WEBHOOK_FIELDS = (
    "url",
    "method",
    "timeout",
    "success_status_codes",
    "headers",
    "clear_headers",
    "signing_secret",
    "clear_signing_secret",
)
EMAIL_FIELDS = ("to_emails", "from_email", "subject_template")
EMAIL_SMTP_FIELDS = ("smtp_host", "smtp_port", "smtp_use_tls", "smtp_timeout", "smtp_username", "smtp_password")


def _secret(label: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        help_text=help_text,
        widget=forms.PasswordInput(render_value=False, attrs=SECRET_ATTRS),
    )


def _split(value: str) -> list[str]:
    return [item for item in _LIST_SEPARATOR.split(value.strip()) if item]


class ChannelForm(ServiceModelForm):
    """One form for both kinds; only the fields of the chosen kind are read. Secrets (header values,
    the signing secret, the SMTP password) are never shown, and left blank they keep the stored ones."""

    url = forms.CharField(label="URL", required=False, max_length=2048, widget=forms.URLInput(attrs={"size": 80}))
    method = forms.ChoiceField(choices=[(method, method) for method in METHODS], initial="POST", required=False)
    timeout = forms.FloatField(required=False, min_value=0.1, max_value=120, help_text="Seconds; 10 when blank.")
    success_status_codes = forms.CharField(
        label="Success statuses",
        required=False,
        help_text="HTTP statuses that count as delivered, comma-separated; blank means any 2xx.",
    )
    headers = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60, "autocomplete": "off", "spellcheck": "false"}),
        help_text="One 'Name: value' per line. The values are secrets: never shown; "
        "left blank, the stored headers are kept, and entered, they replace them all.",
    )
    clear_headers = forms.BooleanField(label="Remove the stored headers", required=False)
    signing_secret = _secret("Signing secret", "At least 16 characters; enables the HMAC-SHA256 signature headers.")
    clear_signing_secret = forms.BooleanField(label="Remove the signing secret", required=False)

    to_emails = forms.CharField(
        label="Recipients",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="One or more addresses, one per line or comma-separated.",
    )
    from_email = forms.CharField(
        label="Sender address",
        required=False,
        widget=forms.EmailInput(),
        help_text="Blank: the SMTP provider's sender (required with an own SMTP server).",
    )
    subject_template = forms.CharField(
        required=False,
        max_length=998,
        widget=forms.TextInput(attrs={"size": 80}),
        help_text="Jinja template; blank: 'Notification: {{ event_type }}'.",
    )
    smtp_host = forms.CharField(
        label="SMTP host", required=False, help_text="Blank: send through the runtime SMTP provider."
    )
    smtp_port = forms.IntegerField(label="SMTP port", required=False, min_value=1, max_value=65535, initial=587)
    smtp_use_tls = forms.BooleanField(
        label="Use TLS", required=False, initial=True, help_text="Implicit TLS on 465, required STARTTLS otherwise."
    )
    smtp_timeout = forms.FloatField(label="SMTP timeout", required=False, min_value=0.1, max_value=300)
    smtp_username = forms.CharField(label="SMTP username", required=False)
    smtp_password = _secret("SMTP password")

    error_fields: ClassVar[dict[str, str]] = {
        **{f"config.{name}": name for name in WEBHOOK_FIELDS},
        "config.message": "to_emails",
        **{f"config.message.{name}": name for name in EMAIL_FIELDS},
        "config.smtp": "smtp_host",
        **{f"config.smtp.{name}": f"smtp_{name}" for name in ("host", "port", "use_tls", "timeout")},
        "config.auth": "smtp_username",
        "config.auth.username": "smtp_username",
        "config.auth.password": "smtp_password",
    }

    class Meta:
        model = Channel
        fields = ["name", "description", "channel_type", "enabled"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.updating:
            self.initial.update(self._initial_from_config(self.instance.config))
            self._describe_stored_secrets(self.instance.secrets)

    @staticmethod
    def _initial_from_config(config: dict[str, Any]) -> dict[str, Any]:
        if "url" in config:
            return {
                "url": config["url"],
                "method": config.get("method", "POST"),
                "timeout": config.get("timeout"),
                "success_status_codes": ", ".join(map(str, config.get("success_status_codes", []))),
            }
        message, smtp, auth = config.get("message", {}), config.get("smtp") or {}, config.get("auth") or {}
        return {
            "to_emails": "\n".join(message.get("to_emails", [])),
            "from_email": message.get("from_email", ""),
            "subject_template": message.get("subject_template", ""),
            "smtp_host": smtp.get("host", ""),
            "smtp_port": smtp.get("port", 587),
            "smtp_use_tls": smtp.get("use_tls", True),
            "smtp_timeout": smtp.get("timeout"),
            "smtp_username": auth.get("username", ""),
        }

    def _describe_stored_secrets(self, secrets: dict[str, Any]) -> None:
        stored = {
            "headers": ", ".join(sorted(secrets.get("headers", {}))),
            "signing_secret": "a signing secret" if secrets.get("signing_secret") else "",
            "smtp_password": "a password" if secrets.get("password") else "",
        }
        for name, what in stored.items():
            if what and name in self.fields:
                self.fields[name].help_text = f"Stored: {what}. Leave blank to keep. " + self.fields[name].help_text

    def clean_success_status_codes(self) -> list[int]:
        try:
            return [int(code) for code in _split(self.cleaned_data["success_status_codes"])]
        except ValueError:
            raise forms.ValidationError("Enter HTTP status codes such as 200, 202.") from None

    def clean_headers(self) -> dict[str, str] | None:
        headers: dict[str, str] = {}
        for line in self.cleaned_data["headers"].splitlines():
            if not line.strip():
                continue
            name, separator, value = line.partition(":")
            if not separator or not name.strip():
                raise forms.ValidationError("Write each header as 'Name: value'.")
            headers[name.strip()] = value.strip()
        return headers or None

    def _webhook_config(self) -> dict[str, Any]:
        data = self.cleaned_data
        config: dict[str, Any] = {
            "url": data["url"],
            "method": data["method"] or "POST",
            "success_status_codes": data["success_status_codes"],
        }
        if data["timeout"] is not None:
            config["timeout"] = data["timeout"]
        if data["clear_headers"]:
            config["headers"] = {}
        elif data["headers"]:
            config["headers"] = data["headers"]
        if data["clear_signing_secret"]:
            config["signing_secret"] = None
        elif data["signing_secret"]:
            config["signing_secret"] = data["signing_secret"]
        return config

    def _email_config(self) -> dict[str, Any]:
        data = self.cleaned_data
        message: dict[str, Any] = {"to_emails": _split(data["to_emails"]), "from_email": data["from_email"]}
        if data["subject_template"]:
            message["subject_template"] = data["subject_template"]
        config: dict[str, Any] = {"message": message, "smtp": None, "auth": None}
        if data["smtp_host"]:
            smtp = {"host": data["smtp_host"], "use_tls": data["smtp_use_tls"]}
            smtp.update({key: data[f"smtp_{key}"] for key in ("port", "timeout") if data[f"smtp_{key}"] is not None})
            config["smtp"] = smtp
        if data["smtp_username"]:
            config["auth"] = {"username": data["smtp_username"]}
            if data["smtp_password"]:  # left out, the stored password is kept
                config["auth"]["password"] = data["smtp_password"]
        return config

    def call_service(self) -> Channel:
        channel_type = self.instance.channel_type if self.updating else self.cleaned_data["channel_type"]
        config = self._webhook_config() if channel_type == ChannelType.WEBHOOK else self._email_config()
        fields = {
            "name": self.cleaned_data["name"],
            "description": self.cleaned_data["description"],
            "enabled": self.cleaned_data["enabled"],
            "config": config,
        }
        if self.updating:
            return channel_update(actor=self.actor, channel_id=self.instance.pk, **fields)
        return channel_create(actor=self.actor, channel_type=channel_type, **fields)


class ChannelTestForm(forms.Form):
    test_message = forms.CharField(
        label="Test message",
        initial="This is a test notification.",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


def event_type_choices() -> list[tuple[str, str]]:
    return [(code, code) for code in registered_event_types()]


class RuleForm(ServiceModelForm):
    event_type = forms.ChoiceField(choices=event_type_choices)

    class Meta:
        model = Rule
        fields = [
            "name",
            "description",
            "event_type",
            "channel",
            "subject_template",
            "message_template",
            "condition",
            "enabled",
        ]
        widgets = {
            "message_template": forms.Textarea(attrs={"rows": 8, "cols": 80, "spellcheck": "false"}),
            "subject_template": forms.TextInput(attrs={"size": 80}),
            "condition": forms.TextInput(attrs={"size": 80, "spellcheck": "false"}),
            "description": forms.Textarea(attrs={"rows": 2, "cols": 80}),
        }
        help_texts = {
            "message_template": "Jinja template. It sees event_type, event_id, timestamp, data (the payload), "
            "every payload field, rule, channel and admin_panel_url. Empty: a default JSON envelope for webhooks.",
            "subject_template": "Email only; blank: the channel's subject template.",
            "condition": "Optional Jinja expression over the event, e.g. status == 'FAILED'; "
            "the rule fires only when it is true.",
        }

    def call_service(self) -> Rule:
        fields = {name: self.cleaned_data[name] for name in self.Meta.fields}
        if self.updating:
            return rule_update(actor=self.actor, rule_id=self.instance.pk, **fields)
        return rule_create(actor=self.actor, **fields)


class RulePreviewForm(forms.Form):
    payload = forms.CharField(
        label="Event payload (JSON)",
        widget=forms.Textarea(attrs={"rows": 12, "cols": 80, "spellcheck": "false"}),
        help_text="Starts as the event type's example payload.",
    )
    send = forms.BooleanField(label="Also send it through the channel", required=False)

    def clean_payload(self) -> Any:
        try:
            return json.loads(self.cleaned_data["payload"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
