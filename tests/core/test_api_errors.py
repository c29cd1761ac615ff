"""The one error body, {code, message, fields?}, for every 4xx and 5xx of the API."""

import logging

import pytest
from django.test import Client
from rest_framework.test import APIClient

from core.api import STATUS_FOR_CODE
from core.errors import ErrorCode
from tests.core.api_fixtures import API
from tests.core.failing_urls import SECRET_DETAIL


def test_every_error_code_has_an_http_status():
    assert set(STATUS_FOR_CODE) == set(ErrorCode)
    assert all(400 <= status < 600 for status in STATUS_FOR_CODE.values())


@pytest.fixture
def superuser_client(client_for):
    return client_for("superuser")


def test_unknown_api_paths_are_json_404s(superuser_client):
    for path in ("/api/nothing/", f"{API}nothing/", f"{API}channels/not-a-uuid/"):
        response = superuser_client.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"code": "NOT_FOUND", "message": f"No route for {path}."}


def test_a_path_without_its_trailing_slash_gets_a_hint(superuser_client):
    response = superuser_client.post(f"{API}channels", {})
    assert response.status_code == 404
    assert response.json()["message"].endswith(f"API paths end with a slash: {API}channels/")


def test_a_missing_object_is_not_found(superuser_client):
    response = superuser_client.get(f"{API}channels/00000000-0000-4000-8000-000000000000/")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_method_not_allowed(superuser_client):
    response = superuser_client.put(f"{API}channels/", {})
    assert response.status_code == 405
    assert response.json() == {"code": "METHOD_NOT_ALLOWED", "message": 'Method "PUT" not allowed.'}


def test_not_acceptable(superuser_client):
    response = superuser_client.get(f"{API}channels/", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response.json()["code"] == "NOT_ACCEPTABLE"


@pytest.mark.urls("tests.core.failing_urls")
def test_an_unexpected_error_is_logged_with_a_request_id_and_shown_without_details(superuser_client, caplog):
    with caplog.at_level(logging.ERROR, logger="core.api"):
        response = superuser_client.get(f"{API}boom/", HTTP_X_REQUEST_ID="req-12345678")
    assert response.status_code == 500
    assert response["X-Request-ID"] == "req-12345678"
    assert response.json() == {
        "code": "INTERNAL_ERROR",
        "message": "An unexpected error occurred (request id req-12345678).",
    }
    assert SECRET_DETAIL not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    (record,) = [record for record in caplog.records if record.name == "core.api"]
    assert "req-12345678" in record.getMessage()
    assert record.exc_info[1].args == (SECRET_DETAIL,)


@pytest.mark.urls("tests.core.failing_urls")
def test_djangos_own_500_under_api_is_the_json_error_body(db, caplog):
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.ERROR, logger="core.api"):
        response = client.get("/api/plain-boom/")
    assert response.status_code == 500
    request_id = response["X-Request-ID"]
    assert response.json() == {
        "code": "INTERNAL_ERROR",
        "message": f"An unexpected error occurred (request id {request_id}).",
    }
    assert any(request_id in record.getMessage() for record in caplog.records if record.name == "core.api")


def test_error_bodies_have_only_code_message_and_fields(superuser_client):
    response = superuser_client.post(f"{API}channels/", {"channel_type": "webhook"})
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"code", "message", "fields"}
    assert body["fields"] == {"name": ["This field is required."], "config": ["This field is required."]}
    assert body["message"].startswith("Invalid input: name: This field is required.")


def test_anonymous_gets_401_before_anything_else(db):
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        response = APIClient().generic(method, f"{API}rules/", "{not json", content_type="application/json")
        assert response.status_code == 401, method
        assert response.json()["code"] == "NOT_AUTHENTICATED"
