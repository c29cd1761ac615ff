"""The schema as a whole: the committed SDL, the @oneOf input, and no output field that can return a secret."""

import re

from django.conf import settings
from graphql import get_introspection_query, print_schema

from config.schema import schema
from notifications.channel_kinds import registered_kinds
from notifications.graphql.types import CONFIG_TYPES

SDL_FILE = settings.BASE_DIR / "schema.graphql"

# A field with one of these words in its name could carry a secret, unless it is a marker.
SECRET_WORDS = re.compile(r"password|token|secret|headers|credential|apikey|username", re.IGNORECASE)
MARKERS = re.compile(r"^has[A-Z]")
# Email channels show who they log in as (not a secret); provider usernames are write-only.
ALLOWED = {("SMTPAuthConfig", "username")}


def _named(type_ref: dict) -> dict:
    while type_ref.get("ofType"):
        type_ref = type_ref["ofType"]
    return type_ref


def test_the_committed_sdl_matches_the_code():
    assert SDL_FILE.read_text().rstrip("\n") == print_schema(schema.graphql_schema).rstrip("\n"), (
        "schema.graphql is stale: run `python manage.py graphql_schema --out schema.graphql`"
    )


def test_the_config_inputs_are_one_of():
    sdl = SDL_FILE.read_text()
    assert "input NotificationChannelConfigInput @oneOf {" in sdl
    assert "input NotificationProviderCreateInput @oneOf {" in sdl


def test_every_channel_kind_has_a_config_output_type():
    assert set(CONFIG_TYPES) == set(registered_kinds())


def test_no_output_field_can_return_a_secret(as_user):
    """Walks the introspection result fetched over HTTP: every field of every object and interface type."""
    gql = as_user()
    types = gql(get_introspection_query(descriptions=False))["__schema"]["types"]
    by_name = {item["name"]: item for item in types}

    offending = []
    for item in types:
        if item["kind"] not in ("OBJECT", "INTERFACE") or item["name"].startswith("__"):
            continue
        for field in item["fields"]:
            named = _named(field["type"])["name"]
            if named == "Secret":
                offending.append(f"{item['name']}.{field['name']} returns a Secret")
            elif (
                SECRET_WORDS.search(field["name"])
                and not MARKERS.match(field["name"])
                and (item["name"], field["name"]) not in ALLOWED
            ):
                offending.append(f"{item['name']}.{field['name']}")

    assert offending == []
    assert by_name["Secret"]["kind"] == "SCALAR"
    # The write-only inputs are Secret-typed, so the check above covers every place they could leak to.
    secret_inputs = {
        f"{item['name']}.{field['name']}"
        for item in types
        if item["kind"] == "INPUT_OBJECT"
        for field in item["inputFields"]
        if _named(field["type"])["name"] == "Secret"
    }
    assert secret_inputs == {
        "WebhookHeaderInput.value",
        "WebhookConfigInput.signingSecret",
        "SMTPAuthConfigInput.password",
        "SmtpNotificationProviderConfigInput.username",
        "SmtpNotificationProviderConfigInput.password",
        "SmtpNotificationProviderCreateInput.username",
        "SmtpNotificationProviderCreateInput.password",
    }
    assert "username" not in {field["name"] for field in by_name["SmtpNotificationProviderConfig"]["fields"]}


def test_introspection_reports_one_of(as_user):
    gql = as_user()
    data = gql('{ __type(name: "NotificationChannelConfigInput") { isOneOf inputFields { name } } }')
    assert data["__type"] == {"isOneOf": True, "inputFields": [{"name": "webhook"}, {"name": "email"}]}
