"""Helpers for the config schemas each channel and provider kind declares with DRF serializers.

One serializer per kind is the single schema every interface reuses: the services validate with it,
REST and OpenAPI expose it, GraphQL and the admin map their inputs onto it.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from core.errors import ValidationError

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def flatten_errors(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turns DRF's nested error structure into {"dotted.path": [messages]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, Mapping):
        for key, value in errors.items():
            name = "" if key == "non_field_errors" else str(key)
            path = ".".join(part for part in (prefix, name) if part)
            flat.update(flatten_errors(value, path))
    elif isinstance(errors, list) and errors and all(isinstance(item, str) for item in errors):
        flat.setdefault(prefix, []).extend(str(item) for item in errors)
    elif isinstance(errors, list):
        for index, value in enumerate(errors):
            if value:
                flat.update(flatten_errors(value, f"{prefix}.{index}" if prefix else str(index)))
    elif errors:
        flat.setdefault(prefix, []).append(str(errors))
    return flat


def validate_with(serializer_class: type[serializers.Serializer], data: Any, *, field: str) -> dict[str, Any]:
    """Validates `data` with a serializer, raising one ValidationError whose paths start with `field`."""
    if not isinstance(data, Mapping):
        raise ValidationError.for_field(field, "Expected a JSON object.")
    reject_unstorable(data, field=field)
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        fields = flatten_errors(serializer.errors, field)
        raise ValidationError(
            f"Invalid {field}: " + "; ".join(f"{k}: {v[0]}" for k, v in fields.items()), fields=fields
        )
    return dict(serializer.validated_data)


class StrictSerializer(serializers.Serializer):
    """Refuses keys it does not declare, so a typo such as `passwrod` is an error rather than ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


# Every character str.splitlines() breaks at, not only CR and LF: Python's email package splits and
# folds header values at all of them.
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def has_line_break(value: str) -> bool:
    return not LINE_BREAKS.isdisjoint(value)


def no_crlf(value: str) -> str:
    if has_line_break(value):
        raise serializers.ValidationError("Must not contain line breaks.")
    return value


def hostname(value: str) -> str:
    """A DNS name or an IP literal, as a relay or SMTP host must be."""
    candidate = value.strip().strip("[]")
    try:
        ipaddress.ip_address(candidate)
        return candidate
    except ValueError:
        pass
    labels = candidate.rstrip(".").split(".")
    if not candidate or len(candidate) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise serializers.ValidationError("Enter a valid host name or IP address.")
    return candidate


class HostnameField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 253)
        super().__init__(**kwargs)
        self.validators.append(hostname)

    def to_internal_value(self, data: Any) -> str:
        return hostname(super().to_internal_value(data))


class PortField(serializers.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=65535, **kwargs)


class SecretField(serializers.CharField):
    """Write-only: accepted on input, never rendered on output."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("write_only", True)
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 4096)
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("style", {"input_type": "password"})
        super().__init__(**kwargs)


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether JSON-like `value` nests lists and objects more than `limit` levels deep (checked
    without recursion, since the point is to refuse what recursive code would choke on)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping | list | tuple):
            if depth >= limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, Mapping) else item))
    return False


UNSTORABLE_MESSAGE = (
    "Text must not contain NUL (U+0000) or unpaired surrogate (U+D800-U+DFFF) characters, and numbers must be finite."
)


def _storable(text: str) -> bool:
    # PostgreSQL refuses U+0000 in text and JSON; a lone surrogate (which a JSON or GraphQL "\ud800"
    # escape produces) cannot be encoded as UTF-8 at all.
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def unstorable_path(value: Any, path: str) -> str | None:
    """The dotted path of the first string (or key) that no database column can store, or of a
    number no JSON column can (1e400 parses as infinity), else None."""
    if isinstance(value, str):
        return None if _storable(value) else path
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = unstorable_path(str(key), path) or unstorable_path(item, _join(path, key))
            if found:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = unstorable_path(item, _join(path, index))
            if found:
                return found
    return None


def reject_unstorable(value: Any, *, field: str) -> None:
    found = unstorable_path(value, field)
    if found is not None:
        raise ValidationError.for_field(found or "body", UNSTORABLE_MESSAGE)


def clean_name(value: Any, *, field: str = "name", max_length: int = 256) -> str:
    """A trimmed display name of 1 to `max_length` characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError.for_field(field, f"A name of 1 to {max_length} characters is required.")
    reject_unstorable(value, field=field)
    value = value.strip()
    if len(value) > max_length:
        raise ValidationError.for_field(field, f"A name may have at most {max_length} characters.")
    return value
