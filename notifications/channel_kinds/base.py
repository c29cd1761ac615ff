from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rest_framework import serializers

from core.errors import DomainError, ErrorCode, ValidationError
from core.schema import validate_with

if TYPE_CHECKING:
    from notifications.models import Channel
    from providers.sender_cache import SmtpSender

_REGISTRY: dict[str, ChannelKind] = {}

_EMAIL_ADDRESS = re.compile(r"[^\s<>@\"']+@[^\s<>@\"']+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
EXCERPT_CHARS = 200


def redact(text: str, *, secrets: Iterable[str] = (), limit: int = EXCERPT_CHARS) -> str:
    """A short, single-line version of `text` without secret values or email addresses."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _EMAIL_ADDRESS.sub("<address>", text)
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class RenderedMessage:
    body: str
    subject: str = ""
    html: str = ""
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class SendResult:
    """A delivered message: the HTTP status or SMTP reply code, and a short redacted excerpt."""

    status_code: int | None = None
    excerpt: str = ""


class SendFailure(DomainError):
    """A send that did not deliver. `transient` says whether a retry may succeed; `retry_after`
    is the server's own lower bound for that retry, in seconds. `message` and `excerpt` are
    redacted already."""

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode,
        transient: bool,
        status_code: int | None = None,
        excerpt: str = "",
        retry_after: float | None = None,
    ):
        super().__init__(message, code=code)
        self.transient = transient
        self.status_code = status_code
        self.excerpt = excerpt
        self.retry_after = retry_after


class ChannelKind:
    """A kind of channel: its config schema, which parts are secret, and (in the pipeline) how to send.

    `config_serializer` validates the whole input config; `secret_paths` name the write-only leaves,
    which are split off into the encrypted `secrets` field and kept on update when omitted.
    """

    key: ClassVar[str]
    config_serializer: ClassVar[type[serializers.Serializer]]
    public_serializer: ClassVar[type[serializers.Serializer]]
    span_name: ClassVar[str]
    send_stage: ClassVar[str]  # the failure_stage of a failed send()

    def split_secrets(self, validated: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Returns (public config, secrets) from a validated config."""
        raise NotImplementedError

    def merge_secrets(self, new: dict[str, Any], stored: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
        """The secrets to store after an update: the new ones, or the stored ones where omitted."""
        merged = dict(stored)
        merged.update(new)
        return {key: value for key, value in merged.items() if value not in (None, "", {})}

    def check_secrets(self, config: dict[str, Any], secrets: dict[str, Any]) -> None:
        """Raises when the combination of config and (merged) secrets is incomplete."""

    def public_config(self, config: dict[str, Any], secrets: dict[str, Any]) -> dict[str, Any]:
        """What any interface may show: the config without secret values, with has_* markers."""
        raise NotImplementedError

    def skip_reason(self, *, channel: Channel, sender: SmtpSender | None) -> str:
        """Why this channel cannot send at all right now (e.g. no SMTP provider), or ""."""
        return ""

    def render(
        self, *, channel: Channel, message_template: str, subject_template: str, context: dict[str, Any]
    ) -> RenderedMessage:
        """Renders the message; raises rendering.RenderError."""
        raise NotImplementedError

    def send(
        self, *, channel: Channel, message: RenderedMessage, sender: SmtpSender | None, delivery_id: str
    ) -> SendResult:
        """Delivers one rendered message; raises SendFailure."""
        raise NotImplementedError

    def secret_values(self, *, channel: Channel, sender: SmtpSender | None) -> list[str]:
        """Values that must never reach a log, an error message or an excerpt."""
        return []

    def span_attributes(self, *, channel: Channel, event_type: str, sender: SmtpSender | None) -> dict[str, Any]:
        """Low-cardinality facts for the send span: never recipients, subjects, bodies or secrets."""
        return {"event_type": event_type}

    def validate(
        self, data: Any, *, stored_secrets: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        validated = validate_with(self.config_serializer, data, field="config")
        config, new_secrets = self.split_secrets(_plain(validated))
        secrets = self.merge_secrets(new_secrets, stored_secrets or {}, config)
        self.check_secrets(config, secrets)
        return config, secrets


def _plain(value: Any) -> Any:
    """OrderedDicts and ReturnDicts from DRF into plain JSON-able structures."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def register(kind: ChannelKind) -> ChannelKind:
    if kind.key in _REGISTRY:
        raise ValueError(f"channel kind {kind.key!r} is already registered")
    _REGISTRY[kind.key] = kind
    return kind


def get_kind(key: str) -> ChannelKind:
    try:
        return _REGISTRY[key]
    except KeyError:
        raise ValidationError.for_field(
            "channel_type", f"Unknown channel type {key!r}; expected one of {sorted(_REGISTRY)}."
        ) from None


def registered_kinds() -> dict[str, ChannelKind]:
    return dict(_REGISTRY)
