"""Event types, emit, deliveries with their attempts, and retry over POST /graphql/."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from graphql_relay import to_global_id

from notifications.models import Delivery, DeliveryStatus, Event
from tests.factories import RuleFactory, WebhookChannelFactory
from tests.notifications.builders import SESSION
from tests.notifications.graphql.helpers import failed_delivery

ERROR_FIELDS = "... on MutationError { code message fields { field messages } }"
EMIT = f"""
mutation Emit($eventType: String!, $payload: JSON!, $key: String) {{
  emitNotificationEvent(eventType: $eventType, payload: $payload, idempotencyKey: $key) {{
    __typename
    ... on EmitNotificationEventPayloadSuccess {{
      created
      event {{ id notificationEventId eventType payload idempotencyKey }}
      deliveries {{ status attemptCount rule {{ name }} channel {{ name }} }}
    }}
    {ERROR_FIELDS}
  }}
}}
"""
RETRY = f"""
mutation Retry($id: ID!) {{
  retryNotificationDelivery(id: $id) {{
    __typename
    ... on RetryNotificationDeliveryPayloadSuccess {{ notificationDelivery {{ status attemptCount failureStage }} }}
    {ERROR_FIELDS}
  }}
}}
"""
DELIVERY_FIELDS = """
    id status attemptCount failureStage skipReason lastError
    event { eventType payload }
    rule { name channel { name } }
    channel { name config { channelType } }
    attempts { number outcome transient failureStage statusCode errorCode excerpt }
"""
DELIVERY = f"query Get($id: ID!) {{ notificationDelivery(id: $id) {{ {DELIVERY_FIELDS} }} }}"
DELIVERIES = f"""
query List($filter: NotificationDeliveryFilter, $first: Int) {{
  notificationDeliveries(filter: $filter, first: $first) {{ totalCount edges {{ node {{ {DELIVERY_FIELDS} }} }} }}
}}
"""
RULES_PAGE = """
query { notificationRules(first: 50) { totalCount edges { node {
  name eventType channel { name config { channelType ... on WebhookConfigGQL { url headerNames hasSigningSecret } } }
} } } }
"""


def test_event_types_list_and_schema(as_user):
    gql = as_user("NotificationViewer")

    listed = gql("{ notificationEventTypes { eventType description } }")["notificationEventTypes"]
    searched = gql('{ notificationEventTypes(search: "SESSION") { eventType } }')["notificationEventTypes"]
    one = gql('query { notificationEventTypeSchema(eventType: "session.started") { eventType jsonSchema example } }')[
        "notificationEventTypeSchema"
    ]
    missing = gql.post('query { notificationEventTypeSchema(eventType: "nope") { eventType } }').json()

    codes = [item["eventType"] for item in listed]
    assert {"session.started", "session.terminated", "artifact.download.completed", "notification.test"} <= set(codes)
    assert [item["eventType"] for item in searched] == ["session.started", "session.terminated"]
    assert one["eventType"] == "session.started"
    assert one["jsonSchema"]["required"] == ["session_id", "session_type", "cluster_mode", "status"]
    assert one["example"]["status"] == "RUNNING"
    assert missing["data"] == {"notificationEventTypeSchema": None}
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_emit_stores_the_event_and_its_deliveries(as_user):
    RuleFactory(name="sessions", channel=WebhookChannelFactory(name="hook"))
    RuleFactory(name="other type", event_type="session.terminated")
    gql = as_user("EventPublisher")

    data = gql(EMIT, {"eventType": "session.started", "payload": SESSION})["emitNotificationEvent"]

    assert data["__typename"] == "EmitNotificationEventPayloadSuccess"
    assert data["created"] is True
    assert data["event"]["payload"] == SESSION
    assert data["deliveries"] == [
        {"status": "PENDING", "attemptCount": 0, "rule": {"name": "sessions"}, "channel": {"name": "hook"}}
    ]
    assert Event.objects.get().pk.hex == data["event"]["notificationEventId"].replace("-", "")


def test_emit_with_a_known_idempotency_key_returns_the_first_event(as_user):
    RuleFactory()
    gql = as_user("EventPublisher")
    variables = {"eventType": "session.started", "payload": SESSION, "key": "order-42"}

    first = gql(EMIT, variables)["emitNotificationEvent"]
    second = gql(EMIT, {**variables, "payload": {**SESSION, "status": "OTHER"}})["emitNotificationEvent"]

    assert (first["created"], second["created"]) == (True, False)
    assert second["event"] == first["event"]
    assert len(second["deliveries"]) == 1
    assert Delivery.objects.count() == 1


@pytest.mark.parametrize(
    ("event_type", "payload", "fields"),
    [
        ("session.started", {"session_id": "s"}, {"payload.session_type", "payload.cluster_mode", "payload.status"}),
        ("session.started", {**SESSION, "extra_field": 1}, {"payload.extra_field"}),
        ("no.such.type", {}, {"eventType"}),
    ],
)
def test_emit_refuses_a_bad_event(as_user, event_type, payload, fields):
    gql = as_user("EventPublisher")
    data = gql(EMIT, {"eventType": event_type, "payload": payload})["emitNotificationEvent"]
    assert data["code"] == "VALIDATION_ERROR"
    assert {error["field"] for error in data["fields"]} == fields
    assert not Event.objects.exists()


def test_delivery_with_its_attempts(as_user):
    delivery = failed_delivery()
    gql = as_user("NotificationViewer")

    data = gql(DELIVERY, {"id": to_global_id("NotificationDelivery", str(delivery.pk))})["notificationDelivery"]

    assert (data["status"], data["attemptCount"], data["failureStage"], data["skipReason"]) == (
        "FAILED",
        2,
        "WEBHOOK_SEND",
        None,
    )
    assert data["rule"]["channel"] == {"name": delivery.channel.name}
    assert data["attempts"] == [
        {
            "number": number,
            "outcome": "TRANSIENT_ERROR",
            "transient": True,
            "failureStage": "WEBHOOK_SEND",
            "statusCode": 500,
            "errorCode": "WEBHOOK_BAD_STATUS",
            "excerpt": "boom",
        }
        for number in (1, 2)
    ]


def test_deliveries_filter(as_user):
    rule = RuleFactory()
    failed = failed_delivery(rule)
    failed_delivery(RuleFactory(event_type="session.terminated"), attempts=0, status=DeliveryStatus.SENT)
    gql = as_user("NotificationViewer")

    by_status = gql(DELIVERIES, {"filter": {"status": ["FAILED", "RETRYING"]}})["notificationDeliveries"]
    by_type = gql(DELIVERIES, {"filter": {"eventType": "session.terminated"}})["notificationDeliveries"]
    by_rule = gql(DELIVERIES, {"filter": {"ruleId": str(rule.pk)}})["notificationDeliveries"]
    by_time = gql(DELIVERIES, {"filter": {"createdBefore": "2000-01-01T00:00:00Z"}})["notificationDeliveries"]

    assert [edge["node"]["id"] for edge in by_status["edges"]] == [to_global_id("NotificationDelivery", str(failed.pk))]
    assert [edge["node"]["status"] for edge in by_type["edges"]] == ["SENT"]
    assert by_rule["totalCount"] == 1
    assert by_time == {"totalCount": 0, "edges": []}


def test_retry_a_failed_delivery_and_refuse_a_sent_one(as_user):
    failed = failed_delivery()
    sent = failed_delivery(attempts=1, status=DeliveryStatus.SENT)
    gql = as_user("NotificationWriter")

    retried = gql(RETRY, {"id": str(failed.pk)})["retryNotificationDelivery"]
    refused = gql(RETRY, {"id": str(sent.pk)})["retryNotificationDelivery"]

    assert retried == {
        "__typename": "RetryNotificationDeliveryPayloadSuccess",
        "notificationDelivery": {"status": "PENDING", "attemptCount": 2, "failureStage": None},
    }
    assert refused["code"] == "DELIVERY_NOT_RETRYABLE"


def _count_queries(gql, query: str) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as context:
        data = gql(query)
    return len(context), data


def test_a_page_of_rules_with_their_channels_costs_a_constant_number_of_queries(as_user, django_assert_max_num_queries):
    gql = as_user("NotificationViewer")
    RuleFactory()
    gql(RULES_PAGE)  # warms per-process caches (content types, permissions)
    one, data = _count_queries(gql, RULES_PAGE)
    assert data["notificationRules"]["totalCount"] == 1
    for _ in range(19):
        RuleFactory()

    with django_assert_max_num_queries(one):
        data = gql(RULES_PAGE)

    assert len(data["notificationRules"]["edges"]) == 20


def test_a_page_of_deliveries_with_their_attempts_costs_a_constant_number_of_queries(
    as_user, django_assert_max_num_queries
):
    gql = as_user("NotificationViewer")
    query = DELIVERIES.replace("$first: Int", "$first: Int = 50")
    failed_delivery()
    gql(query)
    one, data = _count_queries(gql, query)
    assert data["notificationDeliveries"]["totalCount"] == 1
    for _ in range(19):
        failed_delivery(attempts=3)

    with django_assert_max_num_queries(one):
        data = gql(query)

    edges = data["notificationDeliveries"]["edges"]
    assert len(edges) == 20
    assert sum(len(edge["node"]["attempts"]) for edge in edges) == 2 + 19 * 3
