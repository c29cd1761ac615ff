"""Schema-driven fuzzing: any document hypothesis-graphql builds from schema.graphql gets a coded answer,
never an INTERNAL_ERROR, and (through the client) never a stored secret."""

from datetime import UTC

import graphql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, nodes, queries

from tests.notifications.graphql.test_schema import SDL_FILE

SDL = SDL_FILE.read_text()
_KEYS = st.sampled_from(["session_id", "session_type", "cluster_mode", "status", "message", "x"])
_JSON = st.dictionaries(_KEYS, st.text(max_size=20), max_size=5).map(
    lambda value: nodes.Object(
        [
            graphql.ObjectFieldNode(name=graphql.NameNode(value=key), value=nodes.String(item))
            for key, item in value.items()
        ]
    )
)
SCALARS = {
    "JSON": _JSON,
    "UUID": st.uuids().map(nodes.String),
    "DateTime": st.datetimes(timezones=st.just(UTC)).map(lambda value: nodes.String(value.isoformat())),
    # Distinctive, so the client's secret scan cannot mistake another field for a leak.
    "Secret": st.text(max_size=20).map(lambda value: nodes.String(f"fuzz-secret-{value}")),
}
# Validation sends over the network to whatever the fuzzer configured: covered by the other tests.
MUTATIONS = [
    "createNotificationChannel",
    "updateNotificationChannel",
    "deleteNotificationChannel",
    "createNotificationRule",
    "updateNotificationRule",
    "deleteNotificationRule",
    "emitNotificationEvent",
    "retryNotificationDelivery",
    "notificationProviderCreate",
    "notificationProviderConfigUpdate",
]
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@pytest.fixture
def superuser_gql(as_user):
    return as_user()


def _check(gql, document: str) -> None:
    response = gql.post(document)
    body = response.json()
    assert response.status_code in (200, 400), body
    codes = [error.get("extensions", {}).get("code") for error in body.get("errors", [])]
    assert None not in codes, body
    assert "INTERNAL_ERROR" not in codes, body


@FUZZ
@given(document=queries(SDL, custom_scalars=SCALARS))
def test_queries_never_fail_internally(superuser_gql, document):
    _check(superuser_gql, document)


@FUZZ
@given(document=mutations(SDL, fields=MUTATIONS, custom_scalars=SCALARS))
def test_mutations_never_fail_internally(superuser_gql, document):
    _check(superuser_gql, document)
