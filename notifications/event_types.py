"""The event-type registry: each type has a payload JSON schema and an example payload.

A host application adds its own type with one call at import time::

    from notifications.event_types import EventType, register_event_type

    register_event_type(EventType(
        code="payment.overdue",
        description="A payment is past its due date.",
        schema={"type": "object", "properties": {"invoice_id": {"type": "string"}}, "required": ["invoice_id"]},
        example={"invoice_id": "INV-1"},
    ))

or with one settings entry: ``NOTIFICATION_EVENT_TYPES = ["myapp.events.PAYMENT_OVERDUE"]`` (dotted
paths to EventType objects, also read from the environment variable of the same name).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string
from jsonschema import Draft202012Validator

from core.errors import ErrorCode, ValidationError


@dataclass(frozen=True)
class EventType:
    code: str
    description: str
    schema: dict[str, Any]
    example: dict[str, Any]
    validator: Draft202012Validator = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        schema = copy.deepcopy(self.schema)
        schema.setdefault("type", "object")
        # Unknown payload fields are refused unless a type says otherwise.
        schema.setdefault("additionalProperties", False)
        Draft202012Validator.check_schema(schema)
        object.__setattr__(self, "schema", schema)
        object.__setattr__(
            self, "validator", Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        )
        errors = payload_errors(self, self.example)
        if errors:
            raise ValueError(f"example payload of {self.code} does not match its schema: {errors}")


_REGISTRY: dict[str, EventType] = {}


def register_event_type(event_type: EventType, *, replace: bool = False) -> EventType:
    if event_type.code in _REGISTRY and not replace:
        raise ValueError(f"event type {event_type.code!r} is already registered")
    _REGISTRY[event_type.code] = event_type
    return event_type


def unregister_event_type(code: str) -> None:
    _REGISTRY.pop(code, None)


def get_event_type(code: str, *, field: str = "event_type") -> EventType:
    try:
        return _REGISTRY[code]
    except (KeyError, TypeError):
        raise ValidationError(
            f"Unknown event type {code!r}.",
            code=ErrorCode.VALIDATION_ERROR,
            fields={field: [f"Unknown event type {code!r}; see the event-types list."]},
        ) from None


def registered_event_types() -> dict[str, EventType]:
    return dict(sorted(_REGISTRY.items()))


def payload_errors(event_type: EventType, payload: Any) -> dict[str, list[str]]:
    """Field path -> messages for everything wrong with a payload; empty when it is valid."""
    if not isinstance(payload, dict):
        return {"payload": ["Expected a JSON object."]}
    errors: dict[str, list[str]] = {}
    for error in event_type.validator.iter_errors(payload):
        base = ".".join(["payload", *(str(part) for part in error.absolute_path)])
        if error.validator == "required":
            for name in error.validator_value:
                if isinstance(error.instance, dict) and name not in error.instance:
                    errors.setdefault(f"{base}.{name}", []).append("This field is required.")
        elif error.validator == "additionalProperties":
            known = set(error.schema.get("properties", {}))
            for name in sorted(set(error.instance) - known):
                errors.setdefault(f"{base}.{name}", []).append("Unknown field.")
        else:
            errors.setdefault(base, []).append(error.message)
    return errors


def validate_payload(code: str, payload: Any) -> EventType:
    event_type = get_event_type(code)
    errors = payload_errors(event_type, payload)
    if errors:
        raise ValidationError(
            f"The payload does not match the schema of {code}: "
            + "; ".join(f"{key}: {value[0]}" for key, value in errors.items()),
            fields=errors,
        )
    return event_type


def load_configured_event_types() -> None:
    for path in getattr(settings, "NOTIFICATION_EVENT_TYPES", []):
        event_type = import_string(path)
        if _REGISTRY.get(event_type.code) is not event_type:
            register_event_type(event_type)


# --- The starter catalogue -------------------------------------------------------------------

_STR = {"type": "string", "minLength": 1}
_OPT_STR = {"type": ["string", "null"]}

_SESSION_PROPERTIES = {
    "session_id": _STR,
    "session_name": _OPT_STR,
    "session_type": _STR,
    "cluster_mode": _STR,
    "status": _STR,
}
_SESSION_REQUIRED = ["session_id", "session_type", "cluster_mode", "status"]

SESSION_STARTED = register_event_type(
    EventType(
        code="session.started",
        description="A compute session started.",
        schema={"properties": _SESSION_PROPERTIES, "required": _SESSION_REQUIRED},
        example={
            "session_id": "3f1c2b7e-6f0a-4d8e-9b1a-2c3d4e5f6a7b",
            "session_name": "training-run-42",
            "session_type": "batch",
            "cluster_mode": "single-node",
            "status": "RUNNING",
        },
    )
)

SESSION_TERMINATED = register_event_type(
    EventType(
        code="session.terminated",
        description="A compute session terminated.",
        schema={
            "properties": {**_SESSION_PROPERTIES, "termination_reason": _OPT_STR},
            "required": _SESSION_REQUIRED,
        },
        example={
            "session_id": "3f1c2b7e-6f0a-4d8e-9b1a-2c3d4e5f6a7b",
            "session_name": "training-run-42",
            "session_type": "batch",
            "cluster_mode": "single-node",
            "status": "TERMINATED",
            "termination_reason": "user-requested",
        },
    )
)

ARTIFACT_DOWNLOAD_COMPLETED = register_event_type(
    EventType(
        code="artifact.download.completed",
        description="An artifact finished downloading from a registry.",
        schema={
            "properties": {
                "artifact_id": _STR,
                "artifact_name": _STR,
                "artifact_type": _STR,
                "registry_type": _STR,
                "registry_id": _STR,
                "version": _OPT_STR,
                "status": _STR,
                "success": {"type": "boolean"},
                "digest": _OPT_STR,
                "verification_result": {"type": ["object", "null"]},
            },
            "required": [
                "artifact_id",
                "artifact_name",
                "artifact_type",
                "registry_type",
                "registry_id",
                "status",
                "success",
            ],
        },
        example={
            "artifact_id": "a1b2c3",
            "artifact_name": "llama-3-8b",
            "artifact_type": "model",
            "registry_type": "huggingface",
            "registry_id": "hf-main",
            "version": "main",
            "status": "AVAILABLE",
            "success": True,
            "digest": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "verification_result": {"verified": True},
        },
    )
)

ENDPOINT_LIFECYCLE_CHANGED = register_event_type(
    EventType(
        code="endpoint.lifecycle.changed",
        description="A model-serving endpoint moved from one lifecycle status to another.",
        schema={
            "properties": {
                "endpoint_id": _STR,
                "endpoint_name": _STR,
                "domain": _STR,
                "project_id": _STR,
                "resource_group": _STR,
                "from_status": _OPT_STR,
                "to_status": _STR,
                "transition_result": _STR,
                "event_timestamp": {"type": "string", "format": "date-time"},
            },
            "required": [
                "endpoint_id",
                "endpoint_name",
                "domain",
                "project_id",
                "resource_group",
                "to_status",
                "transition_result",
                "event_timestamp",
            ],
        },
        example={
            "endpoint_id": "ep-7",
            "endpoint_name": "chat-api",
            "domain": "default",
            "project_id": "proj-1",
            "resource_group": "gpu-a100",
            "from_status": "PROVISIONING",
            "to_status": "READY",
            "transition_result": "success",
            "event_timestamp": "2026-01-13T09:30:00Z",
        },
    )
)

NOTIFICATION_TEST = register_event_type(
    EventType(
        code="notification.test",
        description="A test message, sent by channel validation.",
        schema={"properties": {"message": {"type": "string", "maxLength": 5000}}, "required": ["message"]},
        example={"message": "This is a test notification."},
    )
)
