"""What every REST endpoint shares: the one error mapping, pagination, and the OpenAPI conventions.

Every 4xx and 5xx body is ``{"code": ..., "message": ..., "fields"?: {"dotted.path": [...]}}``.
`exception_handler` maps DomainError (by code) and DRF's own exceptions (by class) onto it, and
`bad_request`, `permission_denied`, `page_not_found` and `server_error` do the same for Django's own
400, 403, 404 and 500 under /api/.
"""

from __future__ import annotations

import inspect
import logging
import re
import sys
import uuid
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import django_filters
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import exceptions, filters, generics, pagination, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import set_rollback

from core.auth import BEARER_CHALLENGE
from core.errors import Conflict, DomainError, ErrorCode
from core.schema import StrictSerializer, flatten_errors

logger = logging.getLogger(__name__)

STATUS_FOR_CODE: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.PARSE_ERROR: 400,
    ErrorCode.UNKNOWN_EVENT_TYPE: 400,
    ErrorCode.TEMPLATE_ERROR: 400,
    ErrorCode.WEBHOOK_ADDRESS_REFUSED: 400,
    ErrorCode.SMTP_ADDRESS_REFUSED: 400,
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.NOT_ACCEPTABLE: 406,
    ErrorCode.DUPLICATE_NAME: 409,
    ErrorCode.DUPLICATE_PROVIDER: 409,
    ErrorCode.PROVIDER_TYPE_MISMATCH: 409,
    ErrorCode.CHANNEL_IN_USE: 409,
    ErrorCode.DELIVERY_NOT_RETRYABLE: 409,
    ErrorCode.NO_SMTP_PROVIDER: 409,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.SECRET_UNREADABLE: 500,
    ErrorCode.SMTP_CONNECT_FAILED: 502,
    ErrorCode.SMTP_TLS_FAILED: 502,
    ErrorCode.SMTP_AUTH_FAILED: 502,
    ErrorCode.SMTP_SEND_FAILED: 502,
    ErrorCode.WEBHOOK_CONNECT_FAILED: 502,
    ErrorCode.WEBHOOK_BAD_STATUS: 502,
    ErrorCode.WEBHOOK_TIMEOUT: 504,
}

_CODE_FOR_DRF_EXCEPTION: list[tuple[type[exceptions.APIException], ErrorCode]] = [
    (exceptions.ValidationError, ErrorCode.VALIDATION_ERROR),
    (exceptions.ParseError, ErrorCode.PARSE_ERROR),
    (exceptions.AuthenticationFailed, ErrorCode.NOT_AUTHENTICATED),
    (exceptions.NotAuthenticated, ErrorCode.NOT_AUTHENTICATED),
    (exceptions.PermissionDenied, ErrorCode.PERMISSION_DENIED),
    (exceptions.NotFound, ErrorCode.NOT_FOUND),
    (exceptions.MethodNotAllowed, ErrorCode.METHOD_NOT_ALLOWED),
    (exceptions.NotAcceptable, ErrorCode.NOT_ACCEPTABLE),
    (exceptions.UnsupportedMediaType, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
    (exceptions.Throttled, ErrorCode.RATE_LIMITED),
]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def status_for(error: DomainError) -> int:
    if isinstance(error, Conflict):
        return 409
    return STATUS_FOR_CODE[error.code]


def error_body(code: ErrorCode, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": str(code), "message": message}
    if fields:
        body["fields"] = fields
    return body


def request_id_for(request: HttpRequest) -> str:
    """The caller's X-Request-ID when it looks like one, else a new id."""
    given = request.headers.get("X-Request-ID", "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _validation_fields(detail: Any) -> dict[str, list[str]]:
    return {key or "non_field_errors": value for key, value in flatten_errors(detail).items()}


def _summary(prefix: str, fields: dict[str, list[str]]) -> str:
    parts = [f"{key}: {messages[0]}" for key, messages in list(fields.items())[:3] if messages]
    more = " ..." if len(fields) > 3 else ""
    return f"{prefix}: " + "; ".join(parts) + more if parts else prefix


def _internal_error(exc: BaseException, request: HttpRequest | None) -> Response:
    request_id = request_id_for(request) if request is not None else uuid.uuid4().hex
    logger.error(
        "Unhandled %s in %s %s [request_id=%s]",
        type(exc).__name__,
        getattr(request, "method", "?"),
        getattr(request, "path", "?"),
        request_id,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    body = error_body(ErrorCode.INTERNAL_ERROR, f"An unexpected error occurred (request id {request_id}).")
    return Response(body, status=500, headers={"X-Request-ID": request_id})


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """The one mapping from exceptions to HTTP responses for every DRF view."""
    set_rollback()
    request = context.get("request")
    if isinstance(exc, DomainError):
        status = status_for(exc)
        headers = {"WWW-Authenticate": BEARER_CHALLENGE} if status == 401 else {}
        if getattr(exc, "retry_after", None):
            headers["Retry-After"] = str(exc.retry_after)
        return Response(error_body(exc.code, exc.message, exc.fields), status=status, headers=headers)
    if isinstance(exc, RequestDataTooBig):
        return payload_too_large()
    if isinstance(exc, SuspiciousOperation):  # e.g. more query fields than DATA_UPLOAD_MAX_NUMBER_FIELDS
        return Response(error_body(ErrorCode.PARSE_ERROR, "The request is malformed."), status=400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    if not isinstance(exc, exceptions.APIException):
        return _internal_error(exc, request)

    code = next((code for cls, code in _CODE_FOR_DRF_EXCEPTION if isinstance(exc, cls)), ErrorCode.INTERNAL_ERROR)
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    if code is ErrorCode.VALIDATION_ERROR:
        fields = _validation_fields(exc.detail)
        body = error_body(code, _summary("Invalid input", fields), fields)
    elif code is ErrorCode.INTERNAL_ERROR and exc.status_code >= 500:
        return _internal_error(exc, request)
    else:
        body = error_body(code, str(exc.detail))
    return Response(body, status=exc.status_code, headers=headers)


def payload_too_large() -> Response:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return Response(
        error_body(ErrorCode.PAYLOAD_TOO_LARGE, f"The request body is larger than {limit} bytes."), status=413
    )


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 400 (a disallowed Host header, a suspicious request): JSON under /api/."""
    if _is_api(request):
        if isinstance(exception, RequestDataTooBig):  # read outside a DRF view, e.g. by the CSRF check
            return JsonResponse(payload_too_large().data, status=413)
        return JsonResponse(error_body(ErrorCode.PARSE_ERROR, "The request is malformed."), status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 403 outside DRF's views: JSON under /api/."""
    if _is_api(request):
        return JsonResponse(error_body(ErrorCode.PERMISSION_DENIED, "Permission denied."), status=403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404: the API error body under /api/, the usual page elsewhere."""
    if _is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500: logged with a request id; under /api/ the API error body, never a traceback."""
    if not _is_api(request):
        return defaults.server_error(request)
    request_id = request_id_for(request)
    logger.error(
        "Unhandled error in %s %s [request_id=%s]", request.method, request.path, request_id, exc_info=sys.exc_info()
    )
    body = error_body(ErrorCode.INTERNAL_ERROR, f"An unexpected error occurred (request id {request_id}).")
    return JsonResponse(body, status=500, headers={"X-Request-ID": request_id})


# --- Pagination ---------------------------------------------------------------------------------


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """`?limit=&offset=`, with the total `count`; `limit` is capped at API_MAX_PAGE_SIZE."""

    @property
    def default_limit(self) -> int:  # type: ignore[override]
        return settings.API_PAGE_SIZE

    @property
    def max_limit(self) -> int:  # type: ignore[override]
        return settings.API_MAX_PAGE_SIZE


class CursorPagination(pagination.CursorPagination):
    """`?cursor=&limit=` for the growing logs (events, deliveries): stable pages under inserts.

    The response also carries the total `count` of the filtered list.
    """

    page_size_query_param = "limit"
    ordering = "-created_at"

    def get_page_size(self, request: Request) -> int:
        try:
            requested = int(request.query_params[self.page_size_query_param])
        except (KeyError, ValueError):
            return settings.API_PAGE_SIZE
        return min(requested, settings.API_MAX_PAGE_SIZE) if requested > 0 else settings.API_PAGE_SIZE

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list[Any] | None:
        self.count = queryset.count()
        try:
            return super().paginate_queryset(queryset, request, view)
        except (exceptions.NotFound, DjangoValidationError, ValueError, TypeError):
            # A cursor that does not decode, or whose position does not fit the ordering field.
            raise exceptions.ValidationError({"cursor": ["Invalid cursor."]}) from None

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {"count": self.count, "next": self.get_next_link(), "previous": self.get_previous_link(), "results": data}
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        paginated = super().get_paginated_response_schema(schema)
        paginated["required"] = ["count", "results"]
        paginated["properties"] = {"count": {"type": "integer", "example": 123}, **paginated["properties"]}
        return paginated


# --- OpenAPI ------------------------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx and 5xx response."""

    code = serializers.ChoiceField(choices=[(code.value, code.value) for code in ErrorCode])
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="For VALIDATION_ERROR (and some conflicts): dotted field path -> messages.",
    )


def error_response(description: str, *examples: OpenApiExample) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description, examples=list(examples))


def error_example(
    name: str, code: ErrorCode, message: str, fields: dict[str, list[str]] | None = None
) -> OpenApiExample:
    return OpenApiExample(name, value=error_body(code, message, fields), response_only=True)


RATE_LIMITED_RESPONSE = error_response(
    "RATE_LIMITED: too many test sends by this user (NOTIFICATION_TEST_SEND_LIMIT per "
    "NOTIFICATION_TEST_SEND_WINDOW_SECONDS, shared by channel and rule validation and the provider test). "
    "The `Retry-After` header gives the seconds to wait.",
    error_example(
        "Rate limited",
        ErrorCode.RATE_LIMITED,
        "Too many test sends: at most 10 per 60 seconds. Try again in 42 seconds.",
    ),
)

_COMMON_ERRORS: dict[str, OpenApiResponse] = {
    "400": error_response(
        "Bad input: VALIDATION_ERROR with the fields, or PARSE_ERROR for a body that is not JSON.",
        error_example(
            "Validation error",
            ErrorCode.VALIDATION_ERROR,
            "Invalid input: name: This field is required.",
            {"name": ["This field is required."]},
        ),
        error_example("Parse error", ErrorCode.PARSE_ERROR, "JSON parse error - Expecting value: line 1 column 1"),
    ),
    "401": error_response(
        "NOT_AUTHENTICATED: no session and no valid bearer token.",
        error_example(
            "Not authenticated", ErrorCode.NOT_AUTHENTICATED, "Authentication credentials were not provided."
        ),
    ),
    "403": error_response(
        "PERMISSION_DENIED: the user lacks the permission (or the session request lacks its CSRF token).",
        error_example(
            "Permission denied", ErrorCode.PERMISSION_DENIED, "You lack the permission notifications.view_channel."
        ),
    ),
    "404": error_response(
        "NOT_FOUND", error_example("Not found", ErrorCode.NOT_FOUND, "Channel 0b9e... does not exist.")
    ),
    "413": error_response(
        "PAYLOAD_TOO_LARGE: the body exceeds DATA_UPLOAD_MAX_MEMORY_SIZE (1 MiB by default).",
        error_example(
            "Payload too large", ErrorCode.PAYLOAD_TOO_LARGE, "The request body is larger than 1048576 bytes."
        ),
    ),
    "415": error_response(
        "UNSUPPORTED_MEDIA_TYPE: send application/json.",
        error_example(
            "Unsupported media type",
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            'Unsupported media type "text/plain" in request.',
        ),
    ),
    "500": error_response(
        "INTERNAL_ERROR: logged with the request id given in the message; no traceback is returned.",
        error_example(
            "Internal error", ErrorCode.INTERNAL_ERROR, "An unexpected error occurred (request id 9f2c4e...)."
        ),
    ),
}


class AutoSchema(SpectacularAutoSchema):
    """Adds the error responses every operation can give, so each one documents the error body.

    A GET on a collection path (no path parameter) is a paginated list.
    """

    def get_serializer_name(self, serializer: serializers.Serializer, direction: str) -> str:
        """Component names without the Input/Output suffixes of the view-side serializer classes."""
        return re.sub(r"(Input|Output)$", "", super().get_serializer_name(serializer, direction))

    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict[str, Any]:
        """Request bodies of StrictSerializers refuse unknown keys: say so in the schema."""
        schema = super()._map_basic_serializer(serializer, direction)
        if isinstance(serializer, StrictSerializer):
            if schema.get("description") == inspect.cleandoc(StrictSerializer.__doc__ or ""):
                del schema["description"]
            if direction == "request":
                schema["additionalProperties"] = False
        return schema

    def get_description(self) -> str:
        """The summary and description come from extend_schema; base-class docstrings are for developers."""
        return ""

    def _is_list_view(self, serializer: Any = None) -> bool:
        if self.method == "GET" and "{" not in self.path:
            return True
        return super()._is_list_view(serializer)

    def get_operation(self, path: str, path_regex: str, path_prefix: str, method: str, registry: Any) -> Any:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        has_body = "requestBody" in operation
        takes_input = has_body or any(param["in"] == "query" for param in operation.get("parameters", []))
        wanted = ["401", "403", "500"]
        if takes_input:
            wanted.append("400")
        if "{" in path:
            wanted.append("404")
        if has_body:
            wanted += ["413", "415"]
        responses = operation["responses"]
        for status in sorted(wanted):
            if status not in responses:
                responses[status] = self._get_response_for_code(_COMMON_ERRORS[status], status)
        operation["responses"] = dict(sorted(responses.items()))
        return operation


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "core.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A per-user API token: `python manage.py notification token create --user NAME`.",
        }


# --- Filters and views ----------------------------------------------------------------------------


class _UtcIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        try:
            # PostgreSQL refuses offsets past 15:59 that Python accepts; UTC is always fine.
            return parsed.astimezone(UTC) if parsed is not None else None
        except OverflowError:
            raise DjangoValidationError("Date-time out of range.", code="invalid") from None


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time filter, normalised to UTC."""

    field_class = _UtcIsoDateTimeField


def _null_character_paths(value: Any, path: str = "") -> list[str]:
    if isinstance(value, str):
        return [path or "non_field_errors"] if "\x00" in value else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            found += [child] if "\x00" in str(key) else _null_character_paths(item, child)
        return found
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in _null_character_paths(item, f"{path}.{index}")]
    return []


class OrderingFilter(filters.OrderingFilter):
    """`?ordering=name` or `?ordering=-created_at`; the schema lists the allowed values."""

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        (parameter,) = super().get_schema_operation_parameters(view)
        fields = getattr(view, "ordering_fields", [])
        parameter["description"] = "Sort by a field; prefix it with `-` for descending order."
        parameter["schema"]["enum"] = [value for field in fields for value in (field, f"-{field}")]
        return [parameter]


class ApiView(generics.GenericAPIView):
    """A thin view: parse with an input serializer, call one service, shape with an output serializer.

    `queryset` on subclasses only tells filters and the OpenAPI generator the model; rows always come
    from a selector, which checks the actor's permission.
    """

    pagination_class = LimitOffsetPagination
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    metadata_class = None  # OPTIONS is 405: the OpenAPI schema describes the API

    def parse(self, serializer_class: type[serializers.Serializer], *, partial: bool = False) -> dict[str, Any]:
        # Text columns and JSON documents in PostgreSQL cannot hold NUL, anywhere in the body.
        null_paths = _null_character_paths(self.request.data)
        if null_paths:
            raise exceptions.ValidationError({path: ["Null characters are not allowed."] for path in null_paths})
        serializer = serializer_class(data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def parse_query(self, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.query_params)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def list_response(self, rows: Any, serializer_class: type[serializers.Serializer]) -> Response:
        """Filters, orders and paginates the rows a selector returned."""
        page = self.paginate_queryset(self.filter_queryset(rows))
        return self.get_paginated_response(serializer_class(page, many=True).data)


@csrf_exempt  # a 404 changes nothing; without this a POST with a session cookie would get Django's HTML 403
def api_not_found(request: HttpRequest) -> JsonResponse:
    """Any /api/ path no route matches (routed here before the admin's catch-all can claim it)."""
    message = f"No route for {request.path}."
    if not request.path.endswith("/"):
        with suppress(Resolver404):
            if resolve(f"{request.path}/").func is not api_not_found:
                message += f" API paths end with a slash: {request.path}/"
    return JsonResponse(error_body(ErrorCode.NOT_FOUND, message), status=404)
