"""Channels over POST /graphql/: create, read, list, update, delete, validate, and the @oneOf config."""

import uuid

import pytest
from graphql_relay import to_global_id

from notifications.models import Channel
from tests.factories import RuleFactory, WebhookChannelFactory
from tests.notifications.builders import SIGNING_SECRET, WEBHOOK_TOKEN, email_channel, webhook_channel

CHANNEL_FIELDS = """
    id notificationChannelId name description enabled channelType
    config {
      channelType
      ... on WebhookConfigGQL { url method timeout successStatusCodes headerNames hasSigningSecret }
      ... on EmailConfigGQL {
        message { fromEmail toEmails subjectTemplate }
        smtp { host port useTls timeout }
        auth { username hasPassword }
      }
    }
"""
ERROR_FIELDS = "... on MutationError { code message fields { field messages } }"

CREATE = f"""
mutation Create($input: CreateNotificationChannelInput!) {{
  createNotificationChannel(input: $input) {{
    __typename
    ... on CreateNotificationChannelPayloadSuccess {{ notificationChannel {{ {CHANNEL_FIELDS} }} }}
    {ERROR_FIELDS}
  }}
}}
"""
UPDATE = f"""
mutation Update($input: UpdateNotificationChannelInput!) {{
  updateNotificationChannel(input: $input) {{
    __typename
    ... on UpdateNotificationChannelPayloadSuccess {{ notificationChannel {{ {CHANNEL_FIELDS} }} }}
    {ERROR_FIELDS}
  }}
}}
"""
DELETE = f"""
mutation Delete($id: ID!) {{
  deleteNotificationChannel(id: $id) {{
    __typename
    ... on DeleteNotificationChannelPayloadSuccess {{ deletedId }}
    {ERROR_FIELDS}
  }}
}}
"""
VALIDATE = f"""
mutation Validate($id: ID!, $message: String!) {{
  validateNotificationChannel(id: $id, testMessage: $message) {{
    __typename
    ... on ValidateNotificationChannelPayloadSuccess {{ success deliveredAt error {{ code message }} }}
    {ERROR_FIELDS}
  }}
}}
"""
GET = f"query Get($id: ID!) {{ notificationChannel(id: $id) {{ {CHANNEL_FIELDS} }} }}"
LIST = """
query List($filter: NotificationChannelFilter, $orderBy: NotificationChannelOrderBy, $first: Int, $after: String) {
  notificationChannels(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { name channelType enabled } }
  }
}
"""

HEADER_VALUE = "Bearer header-value-0123456789"


def webhook_input(url: str = "https://hooks.example.com/in?team=ops", **config) -> dict:
    return {"webhook": {"url": url, **config}}


@pytest.fixture
def writer(as_user):
    return as_user("NotificationWriter")


def test_create_webhook_channel_returns_markers_not_secrets(writer):
    data = writer(
        CREATE,
        {
            "input": {
                "name": "  Ops hook  ",
                "description": "to the ops room",
                "config": webhook_input(
                    method="PUT",
                    headers=[{"name": "Authorization", "value": HEADER_VALUE}],
                    signingSecret=SIGNING_SECRET,
                    successStatusCodes=[200, 202],
                ),
            }
        },
    )["createNotificationChannel"]

    assert data["__typename"] == "CreateNotificationChannelPayloadSuccess"
    channel = data["notificationChannel"]
    assert channel["name"] == "Ops hook"
    assert channel["channelType"] == "WEBHOOK"
    assert channel["config"] == {
        "channelType": "WEBHOOK",
        "url": "https://hooks.example.com/in?team=ops",
        "method": "PUT",
        "timeout": 10.0,
        "successStatusCodes": [200, 202],
        "headerNames": ["Authorization"],
        "hasSigningSecret": True,
    }
    stored = Channel.objects.get(pk=channel["notificationChannelId"])
    assert stored.secrets == {"headers": {"Authorization": HEADER_VALUE}, "signing_secret": SIGNING_SECRET}
    assert channel["id"] == to_global_id("NotificationChannel", str(stored.pk))


def test_create_email_channel_shows_auth_username_and_has_password(writer):
    config = {
        "email": {
            "message": {"fromEmail": "alerts@example.com", "toEmails": ["ops@example.com"]},
            "smtp": {"host": "smtp.example.com", "port": 465},
            "auth": {"username": "mailer", "password": "mail-password-0123"},
        }
    }
    data = writer(CREATE, {"input": {"name": "Mail", "config": config}})["createNotificationChannel"]

    assert data["notificationChannel"]["config"] == {
        "channelType": "EMAIL",
        "message": {
            "fromEmail": "alerts@example.com",
            "toEmails": ["ops@example.com"],
            "subjectTemplate": "Notification: {{ event_type }}",
        },
        "smtp": {"host": "smtp.example.com", "port": 465, "useTls": True, "timeout": 30.0},
        "auth": {"username": "mailer", "hasPassword": True},
    }


def test_email_channel_without_smtp_uses_the_provider(writer):
    config = {"email": {"message": {"toEmails": ["ops@example.com"]}}}
    channel = writer(CREATE, {"input": {"name": "Via provider", "config": config}})["createNotificationChannel"][
        "notificationChannel"
    ]
    assert channel["config"]["smtp"] is None
    assert channel["config"]["auth"] is None
    assert channel["config"]["message"]["fromEmail"] is None


def test_create_refuses_bad_config_with_field_errors(writer):
    data = writer(
        CREATE, {"input": {"name": "Bad", "config": webhook_input("ftp://example.com", successStatusCodes=[99])}}
    )["createNotificationChannel"]

    assert data["__typename"] == "CreateNotificationChannelPayloadError"
    assert data["code"] == "VALIDATION_ERROR"
    assert {error["field"] for error in data["fields"]} == {"config.url", "config.successStatusCodes.0"}


def test_create_refuses_a_duplicate_name(writer):
    WebhookChannelFactory(name="Taken")
    data = writer(CREATE, {"input": {"name": "Taken", "config": webhook_input()}})["createNotificationChannel"]
    assert data["code"] == "DUPLICATE_NAME"
    assert [error["field"] for error in data["fields"]] == ["name"]


def test_create_refuses_duplicate_header_names(writer):
    headers = [{"name": "X-Key", "value": "first-value-123"}, {"name": "X-Key", "value": "second-value-123"}]
    data = writer(CREATE, {"input": {"name": "Dup", "config": webhook_input(headers=headers)}})[
        "createNotificationChannel"
    ]
    assert data["code"] == "VALIDATION_ERROR"
    assert data["fields"][0]["field"] == "config.headers"


@pytest.mark.parametrize(
    "config",
    [
        {"webhook": {"url": "https://a.example.com"}, "email": {"message": {"toEmails": ["a@example.com"]}}},
        {},
        {"webhook": None},
    ],
    ids=["both", "neither", "null"],
)
def test_one_of_config_refuses_both_neither_and_null_in_variables(writer, config):
    response = writer.post(CREATE, {"input": {"name": "X", "config": config}})

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [error["extensions"]["code"] for error in errors] == ["VALIDATION_ERROR"]
    assert "NotificationChannelConfigInput" in errors[0]["message"] or "must be non-null" in errors[0]["message"]
    assert not Channel.objects.exists()


@pytest.mark.parametrize(
    "literal",
    [
        '{webhook: {url: "https://a.example.com"}, email: {message: {toEmails: ["a@example.com"]}}}',
        "{}",
    ],
    ids=["both", "neither"],
)
def test_one_of_config_refuses_both_and_neither_in_literals(writer, literal):
    query = f"""mutation {{
      createNotificationChannel(input: {{name: "X", config: {literal}}}) {{ __typename }}
    }}"""
    errors = writer.errors(query)
    assert [error["extensions"]["code"] for error in errors] == ["VALIDATION_ERROR"]
    assert "OneOf Input Object 'NotificationChannelConfigInput' must specify exactly one key" in errors[0]["message"]
    assert not Channel.objects.exists()


def test_read_by_global_id_uuid_and_node(as_user):
    channel = webhook_channel("https://hooks.example.com/x", headers={"X-Token": WEBHOOK_TOKEN})
    gql = as_user("NotificationViewer")
    global_id = to_global_id("NotificationChannel", str(channel.pk))

    by_global = gql(GET, {"id": global_id})["notificationChannel"]
    by_uuid = gql(GET, {"id": str(channel.pk)})["notificationChannel"]
    node = gql("query($id: ID!) { node(id: $id) { id ... on NotificationChannel { name } } }", {"id": global_id})

    assert by_global == by_uuid
    assert by_global["config"]["headerNames"] == ["X-Token"]
    assert node["node"] == {"id": global_id, "name": channel.name}


@pytest.mark.parametrize(
    "bad_id", [str(uuid.uuid4()), "not-an-id", to_global_id("NotificationRule", str(uuid.uuid4()))]
)
def test_unknown_ids_are_not_found(as_user, bad_id):
    gql = as_user("NotificationViewer")
    response = gql.post(GET, {"id": bad_id})
    body = response.json()
    assert response.status_code == 200
    assert body["data"] == {"notificationChannel": None}
    assert [error["extensions"]["code"] for error in body["errors"]] == ["NOT_FOUND"]
    assert gql.codes("query($id: ID!) { node(id: $id) { id } }", {"id": bad_id}) == ["NOT_FOUND"]


def test_list_filters_orders_and_paginates(as_user):
    for index in range(5):
        WebhookChannelFactory(name=f"hook-{index}", enabled=index % 2 == 0)
    email_channel(name="mail-0")
    gql = as_user("NotificationViewer")

    first = gql(LIST, {"first": 2, "orderBy": "NAME_DESC"})["notificationChannels"]
    rest = gql(LIST, {"first": 10, "after": first["pageInfo"]["endCursor"], "orderBy": "NAME_DESC"})[
        "notificationChannels"
    ]
    webhooks = gql(LIST, {"filter": {"channelType": "WEBHOOK", "enabled": True}})["notificationChannels"]
    named = gql(LIST, {"filter": {"nameContains": "MAIL"}})["notificationChannels"]

    assert first["totalCount"] == 6
    assert [edge["node"]["name"] for edge in first["edges"]] == ["mail-0", "hook-4"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert [edge["node"]["name"] for edge in rest["edges"]] == ["hook-3", "hook-2", "hook-1", "hook-0"]
    assert [edge["node"]["name"] for edge in webhooks["edges"]] == ["hook-0", "hook-2", "hook-4"]
    assert webhooks["totalCount"] == 3
    assert [edge["node"] for edge in named["edges"]] == [{"name": "mail-0", "channelType": "EMAIL", "enabled": True}]


def test_update_without_secrets_keeps_them(writer):
    channel = webhook_channel(
        "https://hooks.example.com/old", headers={"Authorization": WEBHOOK_TOKEN}, signing_secret=SIGNING_SECRET
    )

    data = writer(
        UPDATE,
        {"input": {"id": str(channel.pk), "name": "renamed", "config": webhook_input("https://hooks.example.com/new")}},
    )["updateNotificationChannel"]

    config = data["notificationChannel"]["config"]
    assert data["notificationChannel"]["name"] == "renamed"
    assert (config["url"], config["headerNames"], config["hasSigningSecret"]) == (
        "https://hooks.example.com/new",
        ["Authorization"],
        True,
    )
    channel.refresh_from_db()
    assert channel.secrets == {"headers": {"Authorization": WEBHOOK_TOKEN}, "signing_secret": SIGNING_SECRET}


def test_update_replaces_and_removes_secrets_when_given(writer):
    channel = webhook_channel(
        "https://hooks.example.com/x", headers={"Authorization": WEBHOOK_TOKEN}, signing_secret=SIGNING_SECRET
    )
    config = webhook_input("https://hooks.example.com/x", headers=[], signingSecret=None)

    data = writer(UPDATE, {"input": {"id": str(channel.pk), "config": config}})["updateNotificationChannel"]

    assert data["notificationChannel"]["config"]["headerNames"] == []
    assert data["notificationChannel"]["config"]["hasSigningSecret"] is False
    channel.refresh_from_db()
    assert "signing_secret" not in channel.secrets


def test_update_changes_only_the_fields_given(writer):
    channel = WebhookChannelFactory(name="keep-me", description="kept")
    data = writer(UPDATE, {"input": {"id": str(channel.pk), "enabled": False}})["updateNotificationChannel"]
    assert {key: data["notificationChannel"][key] for key in ("name", "description", "enabled")} == {
        "name": "keep-me",
        "description": "kept",
        "enabled": False,
    }


def test_update_can_change_the_channel_type(writer):
    channel = webhook_channel("https://hooks.example.com/x", signing_secret=SIGNING_SECRET)
    config = {"email": {"message": {"toEmails": ["ops@example.com"]}}}

    data = writer(UPDATE, {"input": {"id": to_global_id("NotificationChannel", str(channel.pk)), "config": config}})

    updated = data["updateNotificationChannel"]["notificationChannel"]
    assert (updated["channelType"], updated["config"]["channelType"]) == ("EMAIL", "EMAIL")
    channel.refresh_from_db()
    assert channel.secrets == {}


def test_update_refuses_a_null_config_and_unknown_ids(writer):
    channel = webhook_channel("https://hooks.example.com/x")
    null_config = writer(UPDATE, {"input": {"id": str(channel.pk), "config": None}})["updateNotificationChannel"]
    missing = writer(UPDATE, {"input": {"id": str(uuid.uuid4()), "name": "x"}})["updateNotificationChannel"]
    assert (null_config["code"], null_config["fields"][0]["field"]) == ("VALIDATION_ERROR", "config")
    assert missing["code"] == "NOT_FOUND"


def test_delete(writer):
    channel = webhook_channel("https://hooks.example.com/x")
    global_id = to_global_id("NotificationChannel", str(channel.pk))

    data = writer(DELETE, {"id": global_id})["deleteNotificationChannel"]
    again = writer(DELETE, {"id": global_id})["deleteNotificationChannel"]

    assert data == {"__typename": "DeleteNotificationChannelPayloadSuccess", "deletedId": global_id}
    assert not Channel.objects.filter(pk=channel.pk).exists()
    assert again["code"] == "NOT_FOUND"


def test_delete_refuses_a_channel_in_use(writer):
    rule = RuleFactory()
    data = writer(DELETE, {"id": str(rule.channel_id)})["deleteNotificationChannel"]
    assert data["__typename"] == "DeleteNotificationChannelPayloadError"
    assert data["code"] == "CHANNEL_IN_USE"
    assert rule.name in data["message"]


def test_validate_webhook_sends_a_test_message(writer, webhook_receiver):
    receiver = webhook_receiver()
    channel = webhook_channel(receiver.url, headers={"Authorization": WEBHOOK_TOKEN})

    data = writer(VALIDATE, {"id": str(channel.pk), "message": "hello from graphql"})["validateNotificationChannel"]

    assert data["success"] is True
    assert data["deliveredAt"] is not None
    assert data["error"] is None
    (request,) = receiver.requests
    assert "hello from graphql" in request.text
    assert request.headers["Authorization"] == WEBHOOK_TOKEN


def test_validate_reports_a_failed_send(writer, webhook_receiver):
    receiver = webhook_receiver(responses=[(404, {}, "no such hook")])
    channel = webhook_channel(receiver.url)

    data = writer(VALIDATE, {"id": str(channel.pk), "message": "hello"})["validateNotificationChannel"]

    assert (data["success"], data["deliveredAt"]) == (False, None)
    assert data["error"]["code"] == "WEBHOOK_BAD_STATUS"
    assert "no such hook" not in data["error"]["message"]


def test_validate_email_channel_through_its_own_smtp_server(writer, smtp_server):
    server = smtp_server(credentials=("mailer", "mail-password-0123"), auth_require_tls=False)
    channel = email_channel(
        name="mail",
        to=("ops@example.com",),
        smtp={"host": server.host, "port": server.port, "use_tls": False},
    )
    writer(
        UPDATE,
        {
            "input": {
                "id": str(channel.pk),
                "config": {
                    "email": {
                        "message": {"fromEmail": "alerts@example.com", "toEmails": ["ops@example.com"]},
                        "smtp": {"host": server.host, "port": server.port, "useTls": False},
                        "auth": {"username": "mailer", "password": "mail-password-0123"},
                    }
                },
            }
        },
    )

    data = writer(VALIDATE, {"id": str(channel.pk), "message": "mail test"})["validateNotificationChannel"]

    assert data["success"] is True, data
    (message,) = server.messages
    assert message.rcpt_tos == ["ops@example.com"]
    (text,) = [part for part in message.message.walk() if part.get_content_type() == "text/plain"]
    assert "mail test" in text.get_payload(decode=True).decode()
