"""providers/ over HTTP: create (one per kind), read, list, replace the config (keeping omitted
credentials), the kind-mismatch conflict, and the test action against a real SMTP server."""

import pytest
from rest_framework import serializers

from core.schema import StrictSerializer
from providers.kinds import ProviderKind, register_provider_kind, unregister_provider_kind
from providers.models import NotificationProvider
from tests.core.api_fixtures import API, PROVIDER_PASSWORD, PROVIDER_USERNAME, smtp_provider_config

PROVIDERS = f"{API}providers/"
PUBLIC_KEYS = {
    "relay",
    "port",
    "insecure",
    "admin_panel_url",
    "from_email",
    "from_name",
    "has_username",
    "has_password",
}


@pytest.fixture
def writer(client_for):
    return client_for("provider_writer")


def test_create_read_list_and_update(writer):
    created = writer.post(PROVIDERS, {"provider": "smtp", "name": "Relay", "config": smtp_provider_config()})
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["provider"] == "smtp"
    assert body["name"] == "Relay"
    assert set(body["config"]) == PUBLIC_KEYS
    assert body["config"]["has_username"] is True
    assert body["config"]["has_password"] is True
    url = f"{PROVIDERS}{body['id']}/"

    assert writer.get(url).json() == body
    assert writer.get(PROVIDERS).json() == {"count": 1, "next": None, "previous": None, "results": [body]}

    config = {key: value for key, value in smtp_provider_config().items() if key not in {"username", "password"}}
    updated = writer.patch(url, {"provider": "smtp", "config": {**config, "from_name": "Ops"}})
    assert updated.status_code == 200, updated.json()
    assert updated.json()["config"]["from_name"] == "Ops"
    assert updated.json()["config"]["has_password"] is True
    stored = NotificationProvider.objects.get()
    assert stored.secrets == {"username": PROVIDER_USERNAME, "password": PROVIDER_PASSWORD}


def test_an_empty_password_clears_it(writer, provider):
    response = writer.patch(f"{PROVIDERS}{provider.id}/", {"config": smtp_provider_config(password="")})
    assert response.status_code == 200
    assert response.json()["config"]["has_password"] is False


def test_a_second_provider_of_a_kind_is_a_conflict(writer, provider):
    response = writer.post(PROVIDERS, {"provider": "smtp", "name": "Another", "config": smtp_provider_config()})
    assert response.status_code == 409
    assert response.json()["code"] == "DUPLICATE_PROVIDER"
    assert NotificationProvider.objects.count() == 1


class _PigeonConfig(StrictSerializer):
    loft = serializers.CharField()


class _PigeonKind(ProviderKind):
    key = "pigeon"
    config_serializer = _PigeonConfig


@pytest.fixture
def pigeon_kind():
    kind = register_provider_kind(_PigeonKind())
    yield kind
    unregister_provider_kind(kind.key)


def test_a_config_of_another_kind_is_a_type_mismatch(writer, provider, pigeon_kind):
    response = writer.patch(f"{PROVIDERS}{provider.id}/", {"provider": "pigeon", "config": {"loft": "north"}})
    assert response.status_code == 409
    assert response.json()["code"] == "PROVIDER_TYPE_MISMATCH"
    provider.refresh_from_db()
    assert provider.config["relay"] == "127.0.0.1"


def test_an_unknown_kind_names_the_provider_field(writer, provider):
    response = writer.patch(f"{PROVIDERS}{provider.id}/", {"provider": "sms", "config": smtp_provider_config()})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["provider"]


def test_filters_and_ordering(client_for, provider):
    viewer = client_for("provider_viewer")
    assert viewer.get(PROVIDERS, {"provider": "smtp", "ordering": "-created_at"}).json()["count"] == 1
    assert viewer.get(PROVIDERS, {"name": "rel"}).json()["count"] == 1
    assert viewer.get(PROVIDERS, {"name": "nothing"}).json()["count"] == 0


def test_the_test_action_connects_authenticates_and_sends_through_a_real_smtp_server(writer, smtp_server):
    server = smtp_server(credentials=(PROVIDER_USERNAME, PROVIDER_PASSWORD), auth_require_tls=False)
    provider = writer.post(
        PROVIDERS, {"provider": "smtp", "name": "Local", "config": smtp_provider_config(port=server.port)}
    ).json()
    response = writer.post(f"{PROVIDERS}{provider['id']}/test/", {"send_to": "ops@example.com"})
    assert response.status_code == 200, response.json()
    assert response.json()["success"] is True, response.json()
    assert response.json()["error"] is None
    assert server.auth_attempts == [(PROVIDER_USERNAME, True)]
    (message,) = server.messages
    assert message.rcpt_tos == ["ops@example.com"]


def test_the_test_action_reports_refused_credentials(writer, smtp_server):
    server = smtp_server(credentials=(PROVIDER_USERNAME, "another-password"), auth_require_tls=False)
    provider = writer.post(
        PROVIDERS, {"provider": "smtp", "name": "Local", "config": smtp_provider_config(port=server.port)}
    ).json()
    response = writer.post(f"{PROVIDERS}{provider['id']}/test/", {})
    assert response.status_code == 200
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == "SMTP_AUTH_FAILED"
    assert server.messages == []


def test_the_test_action_reports_a_relay_that_does_not_answer(writer, provider):
    response = writer.post(f"{PROVIDERS}{provider.id}/test/", {})
    assert response.status_code == 200
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == "SMTP_CONNECT_FAILED"


def test_the_test_action_names_a_bad_send_to(writer, provider):
    response = writer.post(f"{PROVIDERS}{provider.id}/test/", {"send_to": "not-an-address"})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["send_to"]
