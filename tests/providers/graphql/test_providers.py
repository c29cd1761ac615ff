"""The SMTP provider over POST /graphql/, with the operations exactly as the provider docs (seed 004) write them."""

import uuid

import pytest
from graphql_relay import to_global_id

from providers.models import NotificationProvider
from tests.providers.factories import SmtpProviderFactory

# Seed 004, "Creating The SMTP Provider": the mutation and its example variables, verbatim.
CREATE_MUTATION = """
mutation CreateSmtpNotificationProvider(
$input: NotificationProviderCreateInput!
) {
notificationProviderCreate(input: $input) {
... on NotificationProviderCreatePayloadSuccess {
notificationProvider {
notificationProviderId
name
provider
}
}
... on NotificationProviderCreatePayloadError {
code
}
}
}
"""
CREATE_VARIABLES = {
    "input": {
        "smtp": {
            "name": "Primary SMTP",
            "relay": "smtp.example.com",
            "port": 587,
            "insecure": False,
            "adminPanelUrl": "https://admin.example.com",
            "fromEmail": "no-reply@example.com",
            "fromName": "Lana Bank",
            "username": "<smtp-username>",
            "password": "<smtp-password>",
        }
    }
}
# Seed 004, "Rotating SMTP Credentials", verbatim.
UPDATE_MUTATION = """
mutation UpdateSmtpNotificationProviderConfig(
$input: NotificationProviderConfigUpdateInput!
) {
notificationProviderConfigUpdate(input: $input) {
... on NotificationProviderConfigUpdatePayloadSuccess {
notificationProvider {
notificationProviderId
name
provider
}
}
... on NotificationProviderConfigUpdatePayloadError {
code
}
}
}
"""
PROVIDER_FIELDS = """
    id notificationProviderId name provider
    config {
      provider
      ... on SmtpNotificationProviderConfig {
        relay port insecure adminPanelUrl fromEmail fromName hasUsername hasPassword
      }
    }
"""
GET = f"query($id: ID!) {{ notificationProvider(id: $id) {{ {PROVIDER_FIELDS} }} }}"
LIST = f"{{ notificationProviders {{ {PROVIDER_FIELDS} }} }}"


def smtp_config(**changes) -> dict:
    config = dict(CREATE_VARIABLES["input"]["smtp"])
    del config["name"], config["username"], config["password"]
    return {**config, **changes}


@pytest.fixture
def writer(as_user):
    return as_user("NotificationProviderWriter")


def test_the_documented_create_mutation_works_as_written_and_refuses_a_second_provider(writer):
    first = writer(CREATE_MUTATION, CREATE_VARIABLES)
    second = writer(CREATE_MUTATION, CREATE_VARIABLES)

    provider = NotificationProvider.objects.get()
    assert first == {
        "notificationProviderCreate": {
            "notificationProvider": {
                "notificationProviderId": str(provider.pk),
                "name": "Primary SMTP",
                "provider": "SMTP",
            }
        }
    }
    assert second == {"notificationProviderCreate": {"code": "DUPLICATE_PROVIDER"}}
    assert provider.secrets == {"username": "<smtp-username>", "password": "<smtp-password>"}
    assert provider.config["relay"] == "smtp.example.com"


def test_the_documented_update_mutation_keeps_omitted_secrets(writer):
    writer(CREATE_MUTATION, CREATE_VARIABLES)
    provider = NotificationProvider.objects.get()

    data = writer(
        UPDATE_MUTATION,
        {"input": {"notificationProviderId": str(provider.pk), "smtp": smtp_config(relay="smtp2.example.com")}},
    )
    read = writer(GET, {"id": str(provider.pk)})["notificationProvider"]

    assert data == {
        "notificationProviderConfigUpdate": {
            "notificationProvider": {
                "notificationProviderId": str(provider.pk),
                "name": "Primary SMTP",
                "provider": "SMTP",
            }
        }
    }
    provider.refresh_from_db()
    assert provider.secrets == {"username": "<smtp-username>", "password": "<smtp-password>"}
    assert read["config"] == {
        "provider": "SMTP",
        "relay": "smtp2.example.com",
        "port": 587,
        "insecure": False,
        "adminPanelUrl": "https://admin.example.com",
        "fromEmail": "no-reply@example.com",
        "fromName": "Lana Bank",
        "hasUsername": True,
        "hasPassword": True,
    }


def test_update_rotates_the_password_alone(writer):
    provider = SmtpProviderFactory()
    variables = {"input": {"notificationProviderId": str(provider.pk), "smtp": smtp_config(password="rotated-pass-2")}}

    data = writer(UPDATE_MUTATION, variables)

    assert "notificationProvider" in data["notificationProviderConfigUpdate"]
    provider.refresh_from_db()
    assert provider.secrets == {"username": "smtp-user", "password": "rotated-pass-2"}


@pytest.mark.parametrize(
    ("provider_kind", "provider_id", "changes", "code"),
    [
        ("other", None, {}, "PROVIDER_TYPE_MISMATCH"),
        ("smtp", str(uuid.uuid4()), {}, "NOT_FOUND"),
        ("smtp", None, {"fromEmail": "not-an-address"}, "VALIDATION_ERROR"),
        ("smtp", None, {"port": 70000}, "VALIDATION_ERROR"),
    ],
)
def test_update_errors_have_the_documented_codes(writer, provider_kind, provider_id, changes, code):
    provider = SmtpProviderFactory(provider=provider_kind)
    variables = {"input": {"notificationProviderId": provider_id or str(provider.pk), "smtp": smtp_config(**changes)}}

    data = writer(UPDATE_MUTATION, variables)

    assert data == {"notificationProviderConfigUpdate": {"code": code}}


def test_error_payloads_carry_message_and_fields(writer):
    query = """
    mutation($input: NotificationProviderCreateInput!) {
      notificationProviderCreate(input: $input) {
        __typename
        ... on MutationError { code message fields { field messages } }
      }
    }
    """
    smtp = {**CREATE_VARIABLES["input"]["smtp"], "relay": "not a host", "fromEmail": "nope"}

    data = writer(query, {"input": {"smtp": smtp}})["notificationProviderCreate"]

    assert data["__typename"] == "NotificationProviderCreatePayloadError"
    assert data["code"] == "VALIDATION_ERROR"
    assert {error["field"] for error in data["fields"]} == {"config.relay", "config.fromEmail"}
    assert not NotificationProvider.objects.exists()


def test_create_input_is_one_of(writer):
    response = writer.post(CREATE_MUTATION, {"input": {}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"


def test_list_and_get_show_markers_not_credentials(as_user):
    provider = SmtpProviderFactory()
    gql = as_user("NotificationProviderViewer")

    listed = gql(LIST)["notificationProviders"]
    by_global_id = gql(GET, {"id": to_global_id("NotificationProvider", str(provider.pk))})["notificationProvider"]
    node = gql(
        "query($id: ID!) { node(id: $id) { ... on NotificationProvider { name } } }",
        {"id": listed[0]["id"]},
    )["node"]
    missing = gql.post(GET, {"id": str(uuid.uuid4())}).json()

    assert listed == [by_global_id]
    assert by_global_id["config"]["hasUsername"] is True
    assert by_global_id["config"]["hasPassword"] is True
    assert node == {"name": "Primary SMTP"}
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_an_email_channel_sends_through_the_provider_created_over_graphql(as_user, smtp_server):
    server = smtp_server(credentials=("mailer", "relay-password-9"), auth_require_tls=False)
    gql = as_user()
    smtp = {
        **CREATE_VARIABLES["input"]["smtp"],
        "relay": server.host,
        "port": server.port,
        "insecure": True,
        "username": "mailer",
        "password": "relay-password-9",
    }
    gql(CREATE_MUTATION, {"input": {"smtp": smtp}})
    channel = gql(
        """mutation { createNotificationChannel(input: {
             name: "mail", config: {email: {message: {toEmails: ["ops@example.com"]}}}}) {
           ... on CreateNotificationChannelPayloadSuccess { notificationChannel { id } } } }"""
    )["createNotificationChannel"]["notificationChannel"]

    result = gql(
        """mutation($id: ID!) { validateNotificationChannel(id: $id, testMessage: "via the provider") {
             ... on ValidateNotificationChannelPayloadSuccess { success error { code message } } } }""",
        {"id": channel["id"]},
    )["validateNotificationChannel"]

    assert result == {"success": True, "error": None}
    (message,) = server.messages
    assert message.mail_from == "no-reply@example.com"
    assert message.rcpt_tos == ["ops@example.com"]
    assert server.auth_attempts == [("mailer", True)]
