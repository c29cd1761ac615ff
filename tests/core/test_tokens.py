"""API tokens: stored hashed, named, listed, revoked; Bearer and session authentication over HTTP."""

import hashlib
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from core.errors import NotAuthenticated, NotFound, PermissionDenied, ValidationError
from core.models import ApiToken, AuditEntry
from core.tokens import api_token_create, api_token_list, api_token_revoke, user_for_bearer_token
from tests.core.api_fixtures import API
from tests.factories import UserFactory

CHANNELS = f"{API}channels/"


@pytest.fixture
def viewer(make_user):
    return make_user("NotificationViewer", username="viewer")


def test_a_token_is_stored_only_as_its_digest(viewer):
    token, raw = api_token_create(actor=viewer, user=viewer, name="laptop")
    assert raw.startswith("nst_") and len(raw) >= 40
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in repr(token) and raw not in str(token)
    assert raw.startswith(token.prefix) and len(token.prefix) < len(raw) / 3
    stored = ApiToken.objects.values_list("name", "prefix", "token_hash").get()
    assert all(raw not in value for value in stored)
    assert AuditEntry.objects.filter(action="api_token.create").count() == 1


def test_user_for_bearer_token(viewer):
    token, raw = api_token_create(actor=viewer, user=viewer, name="laptop")
    assert user_for_bearer_token(raw) == viewer
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert user_for_bearer_token(raw + "x") is None
    assert user_for_bearer_token("not-a-token") is None
    api_token_revoke(actor=viewer, token_id=token.pk)
    assert user_for_bearer_token(raw) is None


def test_an_inactive_users_token_stops_working(viewer):
    _, raw = api_token_create(actor=viewer, user=viewer, name="laptop")
    viewer.is_active = False
    viewer.save()
    assert user_for_bearer_token(raw) is None


def test_users_manage_their_own_tokens_only(viewer, make_user, superuser, anonymous):
    other = make_user(username="other")
    mine, _ = api_token_create(actor=viewer, user=viewer, name="mine")
    theirs, _ = api_token_create(actor=superuser, user=other, name="theirs")
    with pytest.raises(PermissionDenied):
        api_token_create(actor=viewer, user=other, name="sneaky")
    with pytest.raises(NotAuthenticated):
        api_token_create(actor=anonymous, user=viewer, name="x")
    with pytest.raises(ValidationError) as caught:
        api_token_create(actor=viewer, user=viewer, name="  ")
    assert list(caught.value.fields) == ["name"]
    assert list(api_token_list(actor=viewer)) == [mine]
    with pytest.raises(PermissionDenied):
        api_token_list(actor=viewer, user=other)
    assert set(api_token_list(actor=superuser)) == {mine, theirs}
    with pytest.raises(NotFound):
        api_token_revoke(actor=viewer, token_id=theirs.pk)
    assert api_token_revoke(actor=superuser, token_id=theirs.pk).revoked_at is not None


def test_revoking_twice_keeps_the_first_time(viewer):
    token, _ = api_token_create(actor=viewer, user=viewer, name="laptop")
    first = api_token_revoke(actor=viewer, token_id=token.pk).revoked_at
    assert api_token_revoke(actor=viewer, token_id=token.pk).revoked_at == first
    assert AuditEntry.objects.filter(action="api_token.revoke").count() == 1


def test_bearer_token_over_http(viewer):
    _, raw = api_token_create(actor=viewer, user=viewer, name="laptop")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(CHANNELS).status_code == 200


@pytest.mark.parametrize(
    "header",
    ["Bearer nst_wrong", "Bearer", "Bearer a b", "Bearer revoked"],
    ids=["unknown token", "no token", "two tokens", "revoked token"],
)
def test_a_bad_bearer_token_is_401(viewer, header):
    if header == "Bearer revoked":
        token, raw = api_token_create(actor=viewer, user=viewer, name="old")
        api_token_revoke(actor=viewer, token_id=token.pk)
        header = f"Bearer {raw}"
    response = APIClient().get(CHANNELS, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["code"] == "NOT_AUTHENTICATED"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_anonymous_is_401_with_a_challenge(db):
    response = APIClient().get(CHANNELS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json() == {"code": "NOT_AUTHENTICATED", "message": "Authentication credentials were not provided."}


def test_session_authentication_needs_the_csrf_token_for_writes(make_user):
    user = make_user("NotificationWriter", username="writer")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(CHANNELS).status_code == 200
    body = {"name": "c", "channel_type": "email", "config": {"message": {"to_emails": ["ops@example.com"]}}}
    refused = client.post(CHANNELS, body, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "PERMISSION_DENIED"
    assert "CSRF" in refused.json()["message"]

    client.get("/admin/login/")  # any page that renders a form sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    accepted = client.post(CHANNELS, body, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert accepted.status_code == 201, accepted.json()


def test_last_used_at_is_written_at_most_once_a_minute(viewer, django_assert_num_queries):
    token, raw = api_token_create(actor=viewer, user=viewer, name="laptop")
    user_for_bearer_token(raw)
    with django_assert_num_queries(1):
        user_for_bearer_token(raw)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    with django_assert_num_queries(2):
        user_for_bearer_token(raw)


def test_superuser_tokens(superuser):
    _, raw = api_token_create(actor=superuser, user=UserFactory(username="robot"), name="ci")
    assert user_for_bearer_token(raw).username == "robot"
