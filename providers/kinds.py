"""Provider kinds known to the code. Only `smtp` today; a test may register another."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rest_framework import serializers

from core.errors import ValidationError
from core.schema import HostnameField, PortField, SecretField, StrictSerializer, no_crlf, validate_with


class SmtpProviderConfigSerializer(StrictSerializer):
    relay = HostnameField()
    port = PortField(default=587)
    insecure = serializers.BooleanField(
        default=False, help_text="false: TLS with certificate checks (implicit on 465, STARTTLS otherwise)."
    )
    admin_panel_url = serializers.URLField(required=False, allow_blank=True, default="", max_length=2048)
    from_email = serializers.EmailField()
    from_name = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=256, validators=[no_crlf]
    )
    username = SecretField(allow_blank=True, validators=[no_crlf])
    password = SecretField(allow_blank=True)


@dataclass(frozen=True)
class SmtpConfig:
    """The resolved SMTP settings. Its repr never shows the credentials."""

    relay: str
    port: int
    insecure: bool
    from_email: str
    from_name: str = ""
    admin_panel_url: str = ""
    username: str = ""
    password: str = ""

    def __repr__(self) -> str:
        return (
            f"SmtpConfig(relay={self.relay!r}, port={self.port}, insecure={self.insecure}, "
            f"from_email={self.from_email!r}, username={'***' if self.username else ''!r}, "
            f"password={'***' if self.password else ''!r})"
        )

    __str__ = __repr__


class ProviderKind:
    key: ClassVar[str]
    config_serializer: ClassVar[type[serializers.Serializer]]
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def validate(
        self, data: Any, *, stored_secrets: dict[str, Any] | None = None, field: str = "config"
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Returns (public config, secrets); omitted secrets keep their stored values."""
        validated = dict(validate_with(self.config_serializer, data, field=field))
        secrets = dict(stored_secrets or {})
        for name in self.secret_fields:
            if name in validated:
                secrets[name] = validated.pop(name)
        return validated, {key: value for key, value in secrets.items() if value}

    def public_config(self, config: dict[str, Any], secrets: dict[str, Any]) -> dict[str, Any]:
        return {**config, **{f"has_{name}": bool(secrets.get(name)) for name in self.secret_fields}}


class SmtpProviderKind(ProviderKind):
    key = "smtp"
    config_serializer = SmtpProviderConfigSerializer
    secret_fields = ("username", "password")

    def resolve(self, config: dict[str, Any], secrets: dict[str, Any]) -> SmtpConfig:
        return SmtpConfig(
            relay=config["relay"],
            port=config["port"],
            insecure=config["insecure"],
            from_email=config["from_email"],
            from_name=config.get("from_name", ""),
            admin_panel_url=config.get("admin_panel_url", ""),
            username=secrets.get("username", ""),
            password=secrets.get("password", ""),
        )


_REGISTRY: dict[str, ProviderKind] = {}


def register_provider_kind(kind: ProviderKind) -> ProviderKind:
    _REGISTRY[kind.key] = kind
    return kind


def unregister_provider_kind(key: str) -> None:
    _REGISTRY.pop(key, None)


def get_provider_kind(key: str, *, field: str = "provider") -> ProviderKind:
    try:
        return _REGISTRY[key]
    except (KeyError, TypeError):
        raise ValidationError.for_field(
            field, f"Unknown provider kind {key!r}; expected one of {sorted(_REGISTRY)}."
        ) from None


def registered_provider_kinds() -> dict[str, ProviderKind]:
    return dict(_REGISTRY)


SMTP = register_provider_kind(SmtpProviderKind())
