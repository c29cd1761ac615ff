"""GraphQL plumbing the apps' schema modules share.

- The one mapping of DomainError: a mutation returns ``<Name>PayloadError { code message fields }``
  (see `payload`); any other operation reports ``errors[].extensions.code`` (see `format_error`).
- Scalars: `JSON`, and `Secret` for write-only inputs.
- `Node`: Relay's node interface, answering NOT_FOUND for an id it cannot resolve.
- `PageConnectionField`: Relay pagination with `totalCount` and a capped page size.
- `QueryLimitsRule`: depth and alias limits, read from settings (the view also refuses documents of
  more than GRAPHQL_MAX_TOKENS tokens, and bodies over DATA_UPLOAD_MAX_MEMORY_SIZE with 413).
- `GraphQLAPIView`: authentication (Bearer token or session + CSRF), GraphiQL only when DEBUG.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import wraps
from typing import Any

import graphene
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from graphene.types.generic import GenericScalar
from graphene.utils.str_converters import to_camel_case
from graphene_django import DjangoConnectionField
from graphene_django.views import GraphQLView, HttpError
from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    Undefined,
    ValidationRule,
    parse,
    specified_rules,
)
from graphql.language import SKIP, ValueNode, VisitorAction
from graphql.validation import MaxIntrospectionDepthRule
from graphql_relay import cursor_to_offset, from_global_id

from core.errors import DomainError, ErrorCode, NotFound, ValidationError
from core.schema import UNSTORABLE_MESSAGE, nested_deeper_than, unstorable_path
from core.tokens import user_for_bearer_token

logger = logging.getLogger(__name__)


# --- Scalars -----------------------------------------------------------------------------------


class JSON(GenericScalar):
    """Any JSON value: an object, a list, a string, a number, a boolean or null."""


class Secret(graphene.Scalar):
    """A write-only string (a password, a token, a header value). Accepted in inputs; no field returns one."""

    @staticmethod
    def serialize(value: Any) -> str:
        raise GraphQLError("A Secret is write-only and cannot be returned.")

    @staticmethod
    def parse_value(value: Any) -> str:
        if not isinstance(value, str):
            raise GraphQLError("A Secret must be a string.")
        return value

    @staticmethod
    def parse_literal(node: ValueNode, _variables: Any = None) -> Any:
        return node.value if isinstance(node, StringValueNode) else Undefined


def plain(value: Any) -> Any:
    """A parsed GraphQL input as plain JSON-able data: input objects to dicts (omitted fields stay
    absent, so services can tell "not given" from null), enum members to their values."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    return value


def actor(info: graphene.ResolveInfo) -> Any:
    """The user the view authenticated (never anonymous: the view refuses those first)."""
    return info.context.user


# --- Errors ------------------------------------------------------------------------------------

ErrorCodeEnum = graphene.Enum.from_enum(ErrorCode, description="The stable error codes, shared with REST.")


# Inputs whose keys are the caller's own data (a JSON payload, header names), not GraphQL fields.
_DATA_INPUTS = frozenset({"payload", "headers"})


def camel_path(path: str) -> str:
    """A service's field path in the names of the GraphQL input fields:
    ``config.success_status_codes.0`` -> ``config.successStatusCodes.0``; keys inside a payload stay."""
    parts = path.split(".")
    for index, part in enumerate(parts):
        parts[index] = to_camel_case(part)
        if part in _DATA_INPUTS:
            break
    return ".".join(parts)


class FieldError(graphene.ObjectType):
    field = graphene.String(required=True, description="Dotted path of the input field, e.g. `config.url`.")
    messages = graphene.List(graphene.NonNull(graphene.String), required=True)


class MutationError(graphene.Interface):
    """Every `...PayloadError` type: a stable code, a message for people and, for bad input, the fields."""

    code = ErrorCodeEnum(required=True)
    message = graphene.String(required=True)
    fields = graphene.List(graphene.NonNull(FieldError), required=True)


def _error_values(error: DomainError) -> dict[str, Any]:
    return {
        "code": error.code,
        "message": error.message,
        "fields": [FieldError(field=camel_path(key), messages=value) for key, value in error.fields.items()],
    }


@dataclass(frozen=True)
class Payload:
    """The result of one mutation: the union of ``<Name>PayloadSuccess`` and ``<Name>PayloadError``."""

    union: type[graphene.Union]
    success: type[graphene.ObjectType]
    error: type[graphene.ObjectType]

    def returns(self, mutate: Callable[..., Mapping[str, Any]]) -> Callable[..., graphene.ObjectType]:
        """Wraps a mutate function that returns the success fields; a DomainError becomes the error type."""

        @wraps(mutate)
        def wrapper(*args: Any, **kwargs: Any) -> graphene.ObjectType:
            try:
                return self.success(**mutate(*args, **kwargs))
            except DomainError as error:
                return self.error(**_error_values(error))

        return wrapper


def payload(name: str, description: str, **success_fields: graphene.Field) -> Payload:
    success = type(
        f"{name}PayloadSuccess",
        (graphene.ObjectType,),
        {**success_fields, "Meta": type("Meta", (), {"description": description})},
    )
    error = type(
        f"{name}PayloadError",
        (graphene.ObjectType,),
        {"Meta": type("Meta", (), {"interfaces": (MutationError,), "description": f"Why {name} failed."})},
    )
    union = type(
        f"{name}Payload",
        (graphene.Union,),
        {"Meta": type("Meta", (), {"types": (success, error)})},
    )
    return Payload(union=union, success=success, error=error)


def format_error(error: Exception) -> dict[str, Any]:
    """Top-level errors with ``extensions.code``: the request's own faults are PARSE_ERROR or
    VALIDATION_ERROR, a DomainError keeps its code, and anything else is an INTERNAL_ERROR whose
    details go to the log, not to the client."""
    if isinstance(error, HttpError):
        codes = {
            401: ErrorCode.NOT_AUTHENTICATED,
            403: ErrorCode.PERMISSION_DENIED,
            405: ErrorCode.METHOD_NOT_ALLOWED,
            413: ErrorCode.PAYLOAD_TOO_LARGE,
        }
        code = codes.get(error.response.status_code, ErrorCode.PARSE_ERROR)
        return {"message": error.message, "extensions": {"code": code.value}}
    if not isinstance(error, GraphQLError):
        logger.error("GraphQL request failed", exc_info=error)
        return {"message": "Internal error.", "extensions": {"code": ErrorCode.INTERNAL_ERROR.value}}
    formatted = error.formatted
    original = error.original_error
    if isinstance(original, DomainError):
        formatted["message"] = original.message
        extensions: dict[str, Any] = {"code": original.code.value}
        if original.fields:
            extensions["fields"] = [
                {"field": camel_path(key), "messages": value} for key, value in original.fields.items()
            ]
    elif error.path is None:
        code = ErrorCode.PARSE_ERROR if isinstance(error, GraphQLSyntaxError) else ErrorCode.VALIDATION_ERROR
        extensions = {"code": code.value}
    else:
        logger.error("GraphQL resolver failed at %s", error.path, exc_info=original or error)
        formatted["message"] = "Internal error."
        extensions = {"code": ErrorCode.INTERNAL_ERROR.value}
    formatted["extensions"] = extensions
    return formatted


# --- Ids and nodes -----------------------------------------------------------------------------


def parse_id(value: str, type_name: str) -> str:
    """A Relay global id of `type_name`, or a plain UUID, as the UUID string services take.

    Anything else is passed through unchanged, so the service answers as it does for a bad id."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        pass
    kind, raw = from_global_id(value)
    return raw if kind == type_name else value


class OneOfInputObjectType(graphene.InputObjectType):
    """An input object of which exactly one field is given and not null: `@oneOf` in the SDL.

    `mark_one_of` flags these in the built schema; graphql-core then refuses both or neither, in
    literals and in variables, before any resolver runs (reported as VALIDATION_ERROR)."""

    class Meta:
        abstract = True


def mark_one_of(schema: graphene.Schema) -> graphene.Schema:
    for graphql_type in schema.graphql_schema.type_map.values():
        graphene_type = getattr(graphql_type, "graphene_type", None)
        if isinstance(graphene_type, type) and issubclass(graphene_type, OneOfInputObjectType):
            graphql_type.is_one_of = True  # type: ignore[attr-defined]
    return schema


def one_of(value: Mapping[str, Any]) -> tuple[str, Any]:
    """The (field name, plain value) a validated @oneOf input holds."""
    ((name, selected),) = value.items()
    return name, plain(selected)


class Node(graphene.relay.Node):
    """An object with a global id. Unknown or malformed ids are NOT_FOUND rather than server errors."""

    class Meta:
        name = "Node"

    @classmethod
    def get_node_from_global_id(cls, info: graphene.ResolveInfo, global_id: str, only_type: type | None = None) -> Any:
        type_name, raw_id = from_global_id(global_id)
        graphql_type = info.schema.get_type(type_name) if type_name else None
        graphene_type = getattr(graphql_type, "graphene_type", None)
        if (
            graphene_type is None
            or cls not in getattr(graphene_type._meta, "interfaces", ())
            or (only_type and graphene_type is not only_type)
        ):
            raise NotFound(f"No object has the id {global_id!r}.")
        return graphene_type.get_node(info, raw_id)


# --- Pagination --------------------------------------------------------------------------------


class CountedConnection(graphene.relay.Connection):
    class Meta:
        abstract = True

    total_count = graphene.Int(required=True, description="How many objects match, across all pages.")

    @staticmethod
    def resolve_total_count(root: Any, info: graphene.ResolveInfo) -> int:
        return root.length


class PageConnectionField(DjangoConnectionField):
    """Relay pagination over a queryset: `first`/`last` at most GRAPHENE["RELAY_CONNECTION_MAX_LIMIT"]
    (the default page size too), refused with VALIDATION_ERROR beyond it."""

    @classmethod
    def connection_resolver(  # type: ignore[override]
        cls,
        resolver: Callable[..., Any],
        connection: Any,
        default_manager: Any,
        queryset_resolver: Callable[..., Any],
        max_limit: int,
        enforce_first_or_last: bool,
        root: Any,
        info: graphene.ResolveInfo,
        **args: Any,
    ) -> Any:
        for name in ("first", "last"):
            value = args.get(name)
            if value is not None and not 0 <= value <= max_limit:
                raise ValidationError.for_field(name, f"A page holds 0 to {max_limit} objects.")
        for name in ("after", "before"):
            if args.get(name) is not None and cursor_to_offset(args[name]) is None:
                raise ValidationError.for_field(name, "Not a cursor of this connection.")
        if args.get("offset") is not None:
            if args["offset"] < 0:
                raise ValidationError.for_field("offset", "The offset cannot be negative.")
            if args.get("before") is not None:
                raise ValidationError.for_field("offset", "An offset cannot be combined with `before`.")
        return super().connection_resolver(
            resolver,
            connection,
            default_manager,
            queryset_resolver,
            max_limit,
            enforce_first_or_last,
            root,
            info,
            **args,
        )


# --- Query limits ------------------------------------------------------------------------------


class QueryLimitsRule(ValidationRule):
    """Refuses an operation nested deeper than GRAPHQL_MAX_DEPTH fields or carrying more than
    GRAPHQL_MAX_ALIASES aliases, counting fragments where they are spread (each fragment is measured
    once, so fragments that spread others many times cannot make this check slow). Aliases of
    introspection fields count too; their depth is left to graphql-core's MaxIntrospectionDepthRule."""

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> VisitorAction:
        max_depth: int = settings.GRAPHQL_MAX_DEPTH
        max_aliases: int = settings.GRAPHQL_MAX_ALIASES
        self._fragments: dict[str, tuple[int, int]] = {}
        self._measuring: set[str] = set()
        depth, aliases = self._measure(node.selection_set)
        name = node.name.value if node.name else "anonymous"
        if depth > max_depth:
            self.report_error(GraphQLError(f"Operation {name!r} is nested deeper than {max_depth} fields.", node))
        if aliases > max_aliases:
            self.report_error(GraphQLError(f"Operation {name!r} uses more than {max_aliases} aliases.", node))
        return SKIP

    def _measure(self, selection_set: SelectionSetNode) -> tuple[int, int]:
        """How deep the fields of `selection_set` nest, and how many aliases it holds, spreads expanded."""
        depth = aliases = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                aliases += 1 if selection.alias else 0
                if selection.name.value.startswith("__"):
                    continue
                inner_depth, inner_aliases = (
                    self._measure(selection.selection_set) if selection.selection_set else (0, 0)
                )
                depth, aliases = max(depth, 1 + inner_depth), aliases + inner_aliases
            elif isinstance(selection, InlineFragmentNode):
                inner_depth, inner_aliases = self._measure(selection.selection_set)
                depth, aliases = max(depth, inner_depth), aliases + inner_aliases
            elif isinstance(selection, FragmentSpreadNode):
                inner_depth, inner_aliases = self._measure_fragment(selection.name.value)
                depth, aliases = max(depth, inner_depth), aliases + inner_aliases
        return depth, aliases

    def _measure_fragment(self, name: str) -> tuple[int, int]:
        if name not in self._fragments:
            fragment = self.context.get_fragment(name)
            # Unknown fragments and cycles are reported by the specified rules.
            if fragment is None or name in self._measuring:
                return 0, 0
            self._measuring.add(name)
            self._fragments[name] = self._measure(fragment.selection_set)
            self._measuring.discard(name)
        return self._fragments[name]


class StorableValuesRule(ValidationRule):
    """Refuses string literals no text column can store (NUL, unpaired surrogates); the view checks
    variables the same way."""

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        if unstorable_path(node.value, "value"):
            self.report_error(GraphQLError(UNSTORABLE_MESSAGE, node))


VALIDATION_RULES = (*specified_rules, MaxIntrospectionDepthRule, QueryLimitsRule, StorableValuesRule)


# --- The view ----------------------------------------------------------------------------------


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request: HttpRequest, reason: str) -> str:  # type: ignore[override]
        return reason


def _http_error(status: int, message: str) -> HttpError:
    response = HttpResponse(status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="graphql"'
    return HttpError(response, message)


@method_decorator(csrf_exempt, name="dispatch")
class GraphQLAPIView(GraphQLView):
    """/graphql/: a Bearer token (CSRF-exempt) or the Django session (CSRF enforced on POST).

    Anonymous requests are refused with NOT_AUTHENTICATED; GraphiQL is served only when DEBUG."""

    validation_rules = VALIDATION_RULES

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.graphiql = settings.DEBUG
        try:
            self.read_body(request)
            self.authenticate(request)
        except HttpError as error:
            error.response["Content-Type"] = "application/json"
            # Not self.json_encode: it reads request.GET, which may be what failed.
            error.response.content = json.dumps({"errors": [self.format_error(error)]})
            return error.response
        return super().dispatch(request, *args, **kwargs)

    @staticmethod
    def read_body(request: HttpRequest) -> None:
        """Reads the body and query first, so that one over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 and
        too many query fields a 400, wherever they would be read."""
        try:
            request.body  # noqa: B018  (both are cached on the request)
            request.GET  # noqa: B018
        except RequestDataTooBig:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            raise _http_error(413, f"The request body is larger than {limit} bytes.") from None
        except SuspiciousOperation:
            raise _http_error(400, "The request is malformed.") from None

    def parse_body(self, request: HttpRequest) -> Any:
        limit = settings.API_MAX_JSON_DEPTH
        message = f"POST body sent invalid JSON: it is nested deeper than {limit} levels."
        try:
            data = super().parse_body(request)
        except RecursionError:
            raise _http_error(400, message) from None
        if nested_deeper_than(data, limit + 2):  # the variables sit two levels down
            raise _http_error(400, message)
        return data

    def authenticate(self, request: HttpRequest) -> None:
        """As REST does: a Bearer header must hold a live token; without one, the session counts."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            user = user_for_bearer_token(token.strip())
            if user is None:
                raise _http_error(401, "Invalid or revoked token.")
            request.user = user
        elif request.method == "POST" and request.user.is_authenticated:
            check = _CsrfCheck(lambda _request: HttpResponse())
            check.process_request(request)
            reason = check.process_view(request, None, (), {})
            if reason:
                raise _http_error(403, f"CSRF check failed: {reason}")

    def execute_graphql_request(
        self, request: HttpRequest, data: Any, query: str | None, variables: Any, *args: Any, **kwargs: Any
    ) -> ExecutionResult | None:
        if not request.user.is_authenticated:
            raise _http_error(401, "Authentication is required.")
        if unstorable_path(variables, "variables"):
            return ExecutionResult(errors=[GraphQLError(UNSTORABLE_MESSAGE)])
        if query:
            try:
                # Validation costs grow with the size of the document: refuse large ones before it.
                parse(query, max_tokens=settings.GRAPHQL_MAX_TOKENS, no_location=True)
            except GraphQLError as error:
                return ExecutionResult(errors=[error])
        return super().execute_graphql_request(request, data, query, variables, *args, **kwargs)

    @staticmethod
    def format_error(error: Exception) -> dict[str, Any]:
        return format_error(error)
