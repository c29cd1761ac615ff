from __future__ import annotations

from typing import Any, ClassVar

from rest_framework import serializers

from core.errors import ValidationError
from core.schema import validate_with

_REGISTRY: dict[str, ChannelKind] = {}


class ChannelKind:
    """A kind of channel: its config schema, which parts are secret, and (in the pipeline) how to send.

    `config_serializer` validates the whole input config; `secret_paths` name the write-only leaves,
    which are split off into the encrypted `secrets` field and kept on update when omitted.
    """

    key: ClassVar[str]
    config_serializer: ClassVar[type[serializers.Serializer]]
    public_serializer: ClassVar[type[serializers.Serializer]]

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
