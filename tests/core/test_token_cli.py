"""`manage.py notification token create|list|revoke`."""

import json

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from core.models import ApiToken
from tests.core.api_fixtures import API


def notification(capsys, *args):
    call_command("notification", "token", *args)
    return capsys.readouterr().out


@pytest.fixture
def alice(make_user):
    return make_user("NotificationViewer", username="alice")


def test_create_prints_the_token_alone_on_the_last_line_and_it_works(capsys, alice):
    out = notification(capsys, "create", "--user", "alice", "--name", "ci")
    token = out.splitlines()[-1]
    assert token.startswith("nst_") and " " not in token
    assert ApiToken.objects.get().name == "ci"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(f"{API}channels/").status_code == 200


def test_list_shows_prefixes_never_tokens(capsys, alice):
    token = notification(capsys, "create", "--user", "alice").splitlines()[-1]
    table = notification(capsys, "list")
    assert "alice" in table and token[:12] in table and token not in table
    (row,) = json.loads(notification(capsys, "list", "--user", "alice", "--json"))
    assert row["name"] == "cli" and row["revoked_at"] is None
    assert token not in json.dumps(row)


def test_revoke_stops_the_token(capsys, alice):
    token = notification(capsys, "create", "--user", "alice").splitlines()[-1]
    token_id = ApiToken.objects.get().pk
    assert "Revoked" in notification(capsys, "revoke", str(token_id))
    response = APIClient().get(f"{API}channels/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401


def test_an_unknown_user_is_an_error(capsys, db):
    with pytest.raises(SystemExit) as exit_info:
        notification(capsys, "create", "--user", "nobody")
    assert exit_info.value.code == 1
    assert "NOT_FOUND" in capsys.readouterr().err
