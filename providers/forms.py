"""Admin forms for the SMTP provider: fields mapped onto the kind's config, saved by the services."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms

from core.admin_site import ServiceModelForm
from providers.kinds import registered_provider_kinds
from providers.models import NotificationProvider
from providers.services import notification_provider_config_update, notification_provider_create

SECRET_WIDGET_ATTRS = {"autocomplete": "new-password"}
CONFIG_FIELDS = ("relay", "port", "insecure", "admin_panel_url", "from_email", "from_name")


def _secret_field(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs=SECRET_WIDGET_ATTRS),
    )


class ProviderForm(ServiceModelForm):
    """`username` and `password` are never shown; left blank, the stored values are kept."""

    provider = forms.ChoiceField(label="Kind", choices=())
    relay = forms.CharField(max_length=253, help_text="Host name or IP address of the SMTP relay.")
    port = forms.IntegerField(min_value=1, max_value=65535, initial=587, help_text="465: implicit TLS.")
    insecure = forms.BooleanField(
        required=False,
        help_text="Allow a plaintext relay (a local mail catcher). Off: TLS with certificate checks "
        "(implicit on 465, required STARTTLS on any other port).",
    )
    admin_panel_url = forms.URLField(
        label="Admin panel URL", required=False, assume_scheme="https", help_text="Templates see it."
    )
    from_email = forms.EmailField(label="Sender address")
    from_name = forms.CharField(label="Sender name", required=False, max_length=256)
    username = _secret_field("Username")
    password = _secret_field("Password")
    clear_credentials = forms.BooleanField(
        label="Remove the stored credentials", required=False, help_text="Send without authenticating."
    )

    error_fields: ClassVar[dict[str, str]] = {
        f"config.{name}": name for name in (*CONFIG_FIELDS, "username", "password")
    }

    class Meta:
        model = NotificationProvider
        fields = ["name", "provider"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "provider" in self.fields:
            self.fields["provider"].choices = [(key, key.upper()) for key in registered_provider_kinds()]
        if self.updating:
            for name in CONFIG_FIELDS:
                if name in self.fields and name in self.instance.config:
                    self.initial[name] = self.instance.config[name]
            for name in ("username", "password"):
                if name in self.fields and self.instance.secrets.get(name):
                    self.fields[name].help_text = "Stored; leave blank to keep it."

    def config(self) -> dict[str, Any]:
        data = self.cleaned_data
        config = {name: data[name] for name in CONFIG_FIELDS if data.get(name) not in (None, "")}
        config["insecure"] = data["insecure"]
        if data.get("clear_credentials"):
            config.update(username="", password="")
        else:  # a blank secret is left out, which keeps the stored one
            config.update({name: data[name] for name in ("username", "password") if data.get(name)})
        return config

    def call_service(self) -> NotificationProvider:
        if self.updating:
            return notification_provider_config_update(
                actor=self.actor, provider_id=self.instance.pk, config=self.config()
            )
        return notification_provider_create(
            actor=self.actor,
            provider=self.cleaned_data["provider"],
            name=self.cleaned_data["name"],
            config=self.config(),
        )


class ProviderTestForm(forms.Form):
    send_to = forms.EmailField(
        label="Send a test email to",
        required=False,
        help_text="Leave blank to only connect, secure the connection and authenticate.",
    )
