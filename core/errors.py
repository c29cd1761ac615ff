"""The one error vocabulary of the service. Each interface maps DomainError once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    PARSE_ERROR = "PARSE_ERROR"
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RATE_LIMITED = "RATE_LIMITED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    DUPLICATE_NAME = "DUPLICATE_NAME"
    DUPLICATE_PROVIDER = "DUPLICATE_PROVIDER"
    PROVIDER_TYPE_MISMATCH = "PROVIDER_TYPE_MISMATCH"
    CHANNEL_IN_USE = "CHANNEL_IN_USE"
    UNKNOWN_EVENT_TYPE = "UNKNOWN_EVENT_TYPE"
    TEMPLATE_ERROR = "TEMPLATE_ERROR"
    DELIVERY_NOT_RETRYABLE = "DELIVERY_NOT_RETRYABLE"
    NO_SMTP_PROVIDER = "NO_SMTP_PROVIDER"
    SMTP_CONNECT_FAILED = "SMTP_CONNECT_FAILED"
    SMTP_TLS_FAILED = "SMTP_TLS_FAILED"
    SMTP_AUTH_FAILED = "SMTP_AUTH_FAILED"
    SMTP_SEND_FAILED = "SMTP_SEND_FAILED"
    SMTP_ADDRESS_REFUSED = "SMTP_ADDRESS_REFUSED"
    WEBHOOK_ADDRESS_REFUSED = "WEBHOOK_ADDRESS_REFUSED"
    WEBHOOK_CONNECT_FAILED = "WEBHOOK_CONNECT_FAILED"
    WEBHOOK_TIMEOUT = "WEBHOOK_TIMEOUT"
    WEBHOOK_BAD_STATUS = "WEBHOOK_BAD_STATUS"
    SECRET_UNREADABLE = "SECRET_UNREADABLE"


FieldErrors = Mapping[str, Sequence[str]]


class DomainError(Exception):
    """A failure with a stable code, a message for people and, for bad input, the fields concerned.

    `fields` maps a dotted path (``config.url``, ``payload.session_id``) to its messages.
    """

    code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(self, message: str, *, code: ErrorCode | None = None, fields: FieldErrors | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.fields: dict[str, list[str]] = {key: list(value) for key, value in (fields or {}).items()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!s}, message={self.message!r}, fields={self.fields!r})"


class ValidationError(DomainError):
    code = ErrorCode.VALIDATION_ERROR

    @classmethod
    def for_field(cls, field: str, message: str) -> ValidationError:
        return cls(message, fields={field: [message]})


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class PermissionDenied(DomainError):
    code = ErrorCode.PERMISSION_DENIED


class NotAuthenticated(DomainError):
    code = ErrorCode.NOT_AUTHENTICATED


class Conflict(DomainError):
    """A request that is well formed but clashes with what is stored (HTTP 409)."""


def prefix_fields(errors: FieldErrors, prefix: str) -> dict[str, list[str]]:
    return {f"{prefix}.{key}" if key else prefix: list(value) for key, value in errors.items()}
