"""Rules over POST /graphql/: create, read, list, update, delete and validate (dry run and send)."""

import json
import uuid

import pytest
from graphql_relay import to_global_id

from notifications.models import Rule
from tests.factories import RuleFactory, WebhookChannelFactory
from tests.notifications.builders import SESSION, rule, webhook_channel

RULE_FIELDS = """
    id notificationRuleId name description eventType messageTemplate subjectTemplate condition enabled
    channel { id name channelType }
"""
ERROR_FIELDS = "... on MutationError { code message fields { field messages } }"

CREATE = f"""
mutation Create($input: CreateNotificationRuleInput!) {{
  createNotificationRule(input: $input) {{
    __typename
    ... on CreateNotificationRulePayloadSuccess {{ notificationRule {{ {RULE_FIELDS} }} }}
    {ERROR_FIELDS}
  }}
}}
"""
UPDATE = f"""
mutation Update($input: UpdateNotificationRuleInput!) {{
  updateNotificationRule(input: $input) {{
    __typename
    ... on UpdateNotificationRulePayloadSuccess {{ notificationRule {{ {RULE_FIELDS} }} }}
    {ERROR_FIELDS}
  }}
}}
"""
DELETE = f"""
mutation Delete($id: ID!) {{
  deleteNotificationRule(id: $id) {{
    __typename
    ... on DeleteNotificationRulePayloadSuccess {{ deletedId }}
    {ERROR_FIELDS}
  }}
}}
"""
VALIDATE = f"""
mutation Validate($id: ID!, $payload: JSON, $send: Boolean) {{
  validateNotificationRule(id: $id, payload: $payload, send: $send) {{
    __typename
    ... on ValidateNotificationRulePayloadSuccess {{
      matched rendered {{ subject body }} sent error {{ code message }}
    }}
    {ERROR_FIELDS}
  }}
}}
"""
GET = f"query Get($id: ID!) {{ notificationRule(id: $id) {{ {RULE_FIELDS} }} }}"
LIST = """
query List($filter: NotificationRuleFilter, $orderBy: NotificationRuleOrderBy) {
  notificationRules(filter: $filter, orderBy: $orderBy) { totalCount edges { node { name eventType } } }
}
"""


@pytest.fixture
def writer(as_user):
    return as_user("NotificationWriter")


def test_create_read_update_delete(writer):
    channel = WebhookChannelFactory(name="ops-hook")
    channel_id = to_global_id("NotificationChannel", str(channel.pk))

    created = writer(
        CREATE,
        {
            "input": {
                "name": "Sessions",
                "eventType": "session.started",
                "channelId": channel_id,
                "messageTemplate": "Session {{ session_id }} is {{ status }}",
                "condition": "status == 'RUNNING'",
            }
        },
    )["createNotificationRule"]["notificationRule"]
    rule_id = created["id"]
    read = writer(GET, {"id": rule_id})["notificationRule"]
    updated = writer(
        UPDATE,
        {"input": {"id": created["notificationRuleId"], "messageTemplate": "{{ session_id }}", "enabled": False}},
    )["updateNotificationRule"]["notificationRule"]
    deleted = writer(DELETE, {"id": rule_id})["deleteNotificationRule"]

    assert created["channel"] == {"id": channel_id, "name": "ops-hook", "channelType": "WEBHOOK"}
    assert (created["eventType"], created["condition"], created["enabled"]) == (
        "session.started",
        "status == 'RUNNING'",
        True,
    )
    assert read == created
    assert (updated["messageTemplate"], updated["enabled"], updated["condition"]) == (
        "{{ session_id }}",
        False,
        "status == 'RUNNING'",
    )
    assert deleted == {"__typename": "DeleteNotificationRulePayloadSuccess", "deletedId": rule_id}
    assert not Rule.objects.exists()


def test_update_moves_a_rule_to_another_channel(writer):
    existing = RuleFactory()
    other = WebhookChannelFactory(name="other")
    data = writer(UPDATE, {"input": {"id": str(existing.pk), "channelId": str(other.pk)}})["updateNotificationRule"]
    assert data["notificationRule"]["channel"]["name"] == "other"


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"eventType": "no.such.type"}, "VALIDATION_ERROR", "eventType"),
        ({"channelId": str(uuid.uuid4())}, "VALIDATION_ERROR", "channel"),
        ({"channelId": "garbage"}, "VALIDATION_ERROR", "channel"),
        ({"messageTemplate": "{{ session_id "}, "VALIDATION_ERROR", "messageTemplate"),
        ({"messageTemplate": "{{ no_such_field }}"}, "VALIDATION_ERROR", "messageTemplate"),
        ({"name": "  "}, "VALIDATION_ERROR", "name"),
    ],
)
def test_create_refuses_bad_input_with_the_field(writer, changes, code, field):
    channel = WebhookChannelFactory()
    rule_input = {"name": "r", "eventType": "session.started", "channelId": str(channel.pk), **changes}

    data = writer(CREATE, {"input": rule_input})["createNotificationRule"]

    assert data["__typename"] == "CreateNotificationRulePayloadError"
    assert data["code"] == code
    assert field in [error["field"] for error in data["fields"]]


def test_list_filters_by_event_type_and_channel(as_user):
    hook, other = WebhookChannelFactory(name="a"), WebhookChannelFactory(name="b")
    RuleFactory(name="r1", channel=hook, event_type="session.started")
    RuleFactory(name="r2", channel=hook, event_type="session.terminated")
    RuleFactory(name="r3", channel=other, event_type="session.started")
    gql = as_user("NotificationViewer")

    by_type = gql(LIST, {"filter": {"eventType": "session.started"}, "orderBy": "NAME_DESC"})["notificationRules"]
    by_channel = gql(LIST, {"filter": {"channelId": to_global_id("NotificationChannel", str(hook.pk))}})[
        "notificationRules"
    ]
    by_unknown = gql(LIST, {"filter": {"channelId": "nothing"}})["notificationRules"]

    assert [edge["node"]["name"] for edge in by_type["edges"]] == ["r3", "r1"]
    assert [edge["node"]["name"] for edge in by_channel["edges"]] == ["r1", "r2"]
    assert by_unknown == {"totalCount": 0, "edges": []}


def test_validate_dry_run_renders_with_the_example_or_a_given_payload(as_user, webhook_receiver):
    receiver = webhook_receiver()
    existing = rule(webhook_channel(receiver.url), message_template="{{ session_id }}: {{ status }}")
    gql = as_user("NotificationViewer")

    example = gql(VALIDATE, {"id": str(existing.pk)})["validateNotificationRule"]
    given = gql(VALIDATE, {"id": str(existing.pk), "payload": {**SESSION, "status": "DONE"}})[
        "validateNotificationRule"
    ]

    assert example == {
        "__typename": "ValidateNotificationRulePayloadSuccess",
        "matched": True,
        "rendered": {"subject": None, "body": "3f1c2b7e-6f0a-4d8e-9b1a-2c3d4e5f6a7b: RUNNING"},
        "sent": False,
        "error": None,
    }
    assert given["rendered"]["body"] == "s-1: DONE"
    assert receiver.requests == []


def test_validate_reports_an_unmatched_condition_and_a_bad_payload(writer, webhook_receiver):
    receiver = webhook_receiver()
    existing = rule(webhook_channel(receiver.url), condition="status == 'FAILED'")

    unmatched = writer(VALIDATE, {"id": str(existing.pk), "send": True})["validateNotificationRule"]
    bad = writer(VALIDATE, {"id": str(existing.pk), "payload": {"session_id": "s", "unknown": 1}})[
        "validateNotificationRule"
    ]

    assert (unmatched["matched"], unmatched["sent"]) == (False, False)
    assert receiver.requests == []
    assert bad["code"] == "VALIDATION_ERROR"
    # Keys inside a payload are the caller's own: they keep their spelling.
    assert {"payload.unknown", "payload.session_type"} <= {error["field"] for error in bad["fields"]}


def test_validate_with_send_delivers_to_the_channel(writer, webhook_receiver):
    receiver = webhook_receiver()
    existing = rule(webhook_channel(receiver.url), message_template=json.dumps({"text": "{{ session_id }}"}))

    data = writer(VALIDATE, {"id": str(existing.pk), "payload": SESSION, "send": True})["validateNotificationRule"]

    assert (data["matched"], data["sent"], data["error"]) == (True, True, None)
    (request,) = receiver.requests
    assert json.loads(request.text) == {"text": "s-1"}


def test_validate_with_send_needs_a_writer(as_user, webhook_receiver):
    existing = rule(webhook_channel(webhook_receiver().url))
    gql = as_user("NotificationViewer")
    data = gql(VALIDATE, {"id": str(existing.pk), "send": True})["validateNotificationRule"]
    assert data["code"] == "PERMISSION_DENIED"
