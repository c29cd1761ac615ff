"""The /graphql/ endpoint: authentication, CSRF, GraphiQL, limits and the shape of top-level errors."""

import json

import pytest
from django.test import Client

from core.schema import UNSTORABLE_MESSAGE
from core.tokens import api_token_create, api_token_revoke
from tests.notifications.graphql.client import URL, GraphQLClient

CHANNELS = "{ notificationChannels { totalCount } }"
CREATE = """
mutation { createNotificationChannel(input: {name: "hook", config: {webhook: {url: "https://h.example.com"}}}) {
  __typename
} }
"""


@pytest.fixture
def csrf_gql(gql: GraphQLClient) -> GraphQLClient:
    """A client that, like a browser, is held to Django's CSRF checks."""
    gql.client = Client(enforce_csrf_checks=True)
    return gql


@pytest.fixture
def token(make_user) -> str:
    user = make_user("NotificationWriter")
    return api_token_create(actor=user, user=user, name="ci")[1]


def test_anonymous_requests_are_not_authenticated(gql):
    response = gql.post(CHANNELS)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="graphql"'
    assert response.json() == {
        "errors": [{"message": "Authentication is required.", "extensions": {"code": "NOT_AUTHENTICATED"}}]
    }


def test_anonymous_introspection_is_refused_too(gql):
    assert gql.post("{ __schema { queryType { name } } }").status_code == 401


def test_a_bearer_token_authenticates_without_csrf(csrf_gql, token):
    data = csrf_gql(CREATE, headers={"Authorization": f"Bearer {token}"})
    assert data == {"createNotificationChannel": {"__typename": "CreateNotificationChannelPayloadSuccess"}}


@pytest.mark.parametrize("header", ["Bearer nst_unknown-token", "Bearer ", "bearer x y", "revoked"])
def test_a_bad_bearer_token_is_refused_even_with_a_session(gql, make_user, header):
    user = make_user("NotificationViewer")
    gql.client.force_login(user)
    if header == "revoked":
        stored, raw = api_token_create(actor=user, user=user, name="old")
        api_token_revoke(actor=user, token_id=stored.pk)
        header = f"Bearer {raw}"

    response = gql.post(CHANNELS, headers={"Authorization": header})

    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_AUTHENTICATED"


def test_other_authorization_schemes_leave_the_session_in_charge(as_user):
    gql = as_user("NotificationViewer")
    data = gql(CHANNELS, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert data == {"notificationChannels": {"totalCount": 0}}


def test_a_session_post_needs_the_csrf_token(csrf_gql, make_user):
    csrf_gql.client.force_login(make_user("NotificationWriter"))

    refused = csrf_gql.post(CREATE)
    csrf_gql.client.get("/admin/login/")  # sets the csrftoken cookie, as any page with a form does
    accepted = csrf_gql(CREATE, headers={"X-CSRFToken": csrf_gql.client.cookies["csrftoken"].value})

    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
    assert "CSRF" in refused.json()["errors"][0]["message"]
    assert accepted["createNotificationChannel"]["__typename"] == "CreateNotificationChannelPayloadSuccess"


def test_queries_work_over_get_but_mutations_do_not(as_user):
    gql = as_user("NotificationWriter")
    query = gql.client.get(URL, {"query": CHANNELS})
    mutation = gql.client.get(URL, {"query": CREATE})
    gql.check(query)
    gql.check(mutation)

    assert query.json() == {"data": {"notificationChannels": {"totalCount": 0}}}
    assert mutation.status_code == 405
    assert mutation.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


def test_graphiql_only_when_debug(as_user, settings):
    gql = as_user("NotificationViewer")
    html = {"HTTP_ACCEPT": "text/html"}

    settings.DEBUG = False
    production = gql.client.get(URL, **html)
    settings.DEBUG = True
    development = gql.client.get(URL, **html)

    assert production.status_code == 400
    assert production["Content-Type"] == "application/json"
    assert development.status_code == 200
    assert b"graphiql" in development.content.lower()


def test_request_errors_have_codes(as_user):
    gql = as_user("NotificationViewer")

    syntax = gql.post("{ notificationChannels { ")
    unknown = gql.post("{ notificationChannels { nope } }")
    bad_json = gql.client.post(URL, data="{not json", content_type="application/json")
    gql.check(bad_json)

    assert (syntax.status_code, syntax.json()["errors"][0]["extensions"]["code"]) == (400, "PARSE_ERROR")
    assert (unknown.status_code, unknown.json()["errors"][0]["extensions"]["code"]) == (400, "VALIDATION_ERROR")
    assert (bad_json.status_code, bad_json.json()["errors"][0]["extensions"]["code"]) == (400, "PARSE_ERROR")


def test_an_unexpected_failure_is_an_internal_error_without_details(as_user, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr("notifications.graphql.schema.channel_list", broken)
    gql = as_user("NotificationViewer")

    body = gql.post(CHANNELS).json()

    assert body["errors"] == [
        {
            "message": "Internal error.",
            "locations": [{"line": 1, "column": 3}],
            "path": ["notificationChannels"],
            "extensions": {"code": "INTERNAL_ERROR"},
        }
    ]
    assert "hunter2" not in json.dumps(body)
    assert "hunter2" in caplog.text


def test_query_depth_is_limited(as_user, settings):
    settings.GRAPHQL_MAX_DEPTH = 5
    gql = as_user("NotificationViewer")
    deep = "{ notificationRules { edges { node { channel { config { channelType } } } } } }"
    fragment = """
      { notificationRules { ...Edges } }
      fragment Edges on NotificationRuleConnection { edges { node { channel { config { channelType } } } } }
    """

    errors = gql.errors(deep)
    fragment_errors = gql.errors(fragment)
    settings.GRAPHQL_MAX_DEPTH = 6
    allowed = gql(deep)

    assert [error["extensions"]["code"] for error in errors] == ["VALIDATION_ERROR"]
    assert "nested deeper than 5" in errors[0]["message"]
    assert "nested deeper than 5" in fragment_errors[0]["message"]
    assert allowed == {"notificationRules": {"edges": []}}


def test_aliases_are_limited(as_user, settings):
    settings.GRAPHQL_MAX_ALIASES = 3
    gql = as_user("NotificationViewer")
    aliased = "{ " + " ".join(f"a{index}: notificationChannels {{ totalCount }}" for index in range(4)) + " }"
    via_fragments = """
      { a: notificationChannels { ...F } b: notificationChannels { ...F } }
      fragment F on NotificationChannelConnection { x: totalCount y: totalCount }
    """

    errors = gql.errors(aliased)
    fragment_errors = gql.errors(via_fragments)

    assert "more than 3 aliases" in errors[0]["message"]
    assert errors[0]["extensions"]["code"] == "VALIDATION_ERROR"
    assert "more than 3 aliases" in fragment_errors[0]["message"]
    assert len(gql("{ a: notificationChannels { totalCount } b: notificationChannels { totalCount } }")) == 2


def test_deep_introspection_is_refused(as_user):
    gql = as_user()
    query = "{ __schema { types { fields { type { fields { type { fields { type { name } } } } } } } } }"
    assert "Maximum introspection depth exceeded" in gql.errors(query)[0]["message"]


@pytest.mark.parametrize(
    "arguments",
    [
        "first: 101",
        "last: 101",
        "first: -1",
        "offset: -1",
        'after: "nope"',
        'offset: 1, before: "YXJyYXljb25uZWN0aW9uOjA="',
    ],
)
def test_page_size_is_limited(as_user, arguments):
    gql = as_user("NotificationViewer")
    body = gql.post(f"{{ notificationChannels({arguments}) {{ totalCount }} }}").json()
    assert body["data"] == {"notificationChannels": None}
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"
    assert body["errors"][0]["extensions"]["fields"][0]["field"] in arguments


def test_a_page_defaults_to_the_maximum_size(as_user, settings):
    from tests.factories import WebhookChannelFactory

    WebhookChannelFactory.create_batch(3)
    gql = as_user("NotificationViewer")
    assert settings.GRAPHENE["RELAY_CONNECTION_MAX_LIMIT"] == 100
    data = gql("{ notificationChannels { totalCount edges { node { name } } } }")["notificationChannels"]
    assert (data["totalCount"], len(data["edges"])) == (3, 3)


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query($n: String) { notificationChannels(filter: {nameContains: $n}) { totalCount } }", {"n": "a\x00b"}),
        (
            'mutation($p: JSON!) { emitNotificationEvent(eventType: "notification.test", payload: $p) { __typename } }',
            {"p": {"message": "a\x00b"}},
        ),
        ('{ notificationChannels(filter: {nameContains: "a\\u0000b"}) { totalCount } }', {}),
        ("query($n: String) { notificationChannels(filter: {nameContains: $n}) { totalCount } }", {"n": "a\ud800"}),
        (
            'mutation($p: JSON!) { emitNotificationEvent(eventType: "notification.test", payload: $p) { __typename } }',
            {"p": {"message": "ok", "n": float("inf")}},
        ),
    ],
    ids=["variable", "nested-variable", "literal", "surrogate-variable", "infinite-number"],
)
def test_text_no_column_can_store_is_refused_before_it_reaches_the_database(as_user, query, variables):
    gql = as_user()
    response = gql.post(query, variables)
    (error,) = response.json()["errors"]
    assert response.status_code == 400
    assert (error["message"], error["extensions"]) == (
        UNSTORABLE_MESSAGE,
        {"code": "VALIDATION_ERROR"},
    )


def test_a_surrogate_escape_in_a_literal_is_a_parse_error(as_user):
    response = as_user().post('{ notificationChannels(filter: {nameContains: "a\\ud800b"}) { totalCount } }', {})
    (error,) = response.json()["errors"]
    assert response.status_code == 400
    assert error["extensions"] == {"code": "PARSE_ERROR"}
