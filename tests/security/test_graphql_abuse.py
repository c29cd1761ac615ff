"""Crafted GraphQL documents beyond tests/notifications/graphql/test_http.py (which covers plain depth,
aliases, page sizes and introspection depth): each is refused with a code, quickly, or answered
cheaply. "Quickly" matters as much as the code: these are attempts to pin a web worker's CPU."""

from __future__ import annotations

import json
import time

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

# A refusal must come before the cost: well under what the unguarded server took for each (seconds).
FAST = 2.0


def _post(gql, query: str, variables: dict | None = None) -> tuple[int, dict, float]:
    started = time.monotonic()
    response = gql.client.post(
        "/graphql/", json.dumps({"query": query, "variables": variables or {}}), content_type="application/json"
    )
    return response.status_code, response.json(), time.monotonic() - started


def _codes(body: dict) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


def _fan_out(levels: int, leaf: str) -> str:
    """Fragment F0 spreads F1 twice, F1 spreads F2 twice...: 2**levels copies of `leaf` when expanded."""
    fragments = "".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }} " for i in range(levels))
    return f"{{ ...F0 }} {fragments} fragment F{levels} on Query {{ {leaf} }}"


@pytest.fixture
def gql(as_user):
    return as_user()


def test_aliases_of_introspection_fields_count(gql):
    query = "{ " + " ".join(f"t{index}: __typename" for index in range(settings.GRAPHQL_MAX_ALIASES + 1)) + " }"
    status, body, _ = _post(gql, query)
    assert (status, _codes(body)) == (400, ["VALIDATION_ERROR"])
    assert "aliases" in body["errors"][0]["message"]


def test_fragments_that_spread_each_other_are_measured_once(gql):
    """Unmemoised, measuring this document walks 2**30 fragment copies (hours of CPU)."""
    status, body, seconds = _post(gql, _fan_out(30, "__typename"))
    assert seconds < FAST
    assert (status, body) == (200, {"data": {"__typename": "Query"}})


def test_aliases_multiplied_by_fragments_count_where_they_are_spread(gql):
    status, body, seconds = _post(gql, _fan_out(30, "a: __typename"))
    assert seconds < FAST
    assert (status, _codes(body)) == (400, ["VALIDATION_ERROR"])
    assert "aliases" in body["errors"][0]["message"]


def test_depth_through_spread_fragments_is_measured_once(gql, settings):
    settings.GRAPHQL_MAX_DEPTH = 5
    nested = "notificationRules { edges { node { channel { config { channelType } } } } }"
    _, body, seconds = _post(gql, _fan_out(25, nested))
    assert seconds < FAST
    assert "nested deeper than 5" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    "query",
    [
        "{ notificationChannels { totalCount " + "totalCount " * 60_000 + "} }",
        "{ " + "__typename " * 60_000 + "}",
        "{ __typename } " + "".join(f"fragment F{index} on Query {{ __typename }} " for index in range(20_000)),
        " ".join(f"query Q{index} {{ __typename }}" for index in range(20_000)),
        "query(" + " ".join(f"$v{index}: String" for index in range(20_000)) + ") { __typename }",
        "{ notificationChannels(" + "first: 1 " * 20_000 + ") { totalCount } }",
        "{ __typename " + "@include(if: true) " * 20_000 + "}",
        "{ notificationChannels { "
        + "... on NotificationChannelConnection { " * 3000
        + "totalCount"
        + " }" * 3001
        + " }",
    ],
    ids=[
        "duplicate-fields",
        "duplicate-typename",
        "fragments",
        "operations",
        "variables",
        "arguments",
        "directives",
        "inline",
    ],
)
def test_large_documents_are_refused_before_validation(gql, query):
    status, body, seconds = _post(gql, query)
    assert seconds < FAST
    assert (status, _codes(body)) == (400, ["PARSE_ERROR"])
    message = body["errors"][0]["message"]
    assert f"more than {settings.GRAPHQL_MAX_TOKENS} tokens" in message or "nested too deeply" in message


def test_a_document_within_the_token_limit_is_fine(gql):
    from graphql import get_introspection_query

    status, body, _ = _post(gql, get_introspection_query())  # GraphiQL's own, the largest a client sends
    assert status == 200 and "errors" not in body


@pytest.mark.parametrize("first", [10**9, 2**31, -(2**31)])
def test_absurd_page_sizes_are_refused(gql, first):
    _, body, _ = _post(gql, "query($n: Int) { notificationChannels(first: $n) { totalCount } }", {"n": first})
    assert "VALIDATION_ERROR" in _codes(body)


def test_batched_requests_are_not_accepted(gql):
    response = gql.client.post(
        "/graphql/", json.dumps([{"query": "{ __typename }"}] * 50), content_type="application/json"
    )
    assert response.status_code == 400
    assert _codes(response.json()) == ["PARSE_ERROR"]


def test_a_graphql_get_with_too_many_query_fields_is_a_coded_400(gql):
    query = "&".join(f"x{index}=1" for index in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = gql.client.get(f"/graphql/?query={{__typename}}&{query}")
    assert response.status_code == 400
    assert _codes(response.json()) == ["PARSE_ERROR"]
