"""The OpenAPI schema at /api/schema/ and the Swagger UI at /api/docs/, served without a CDN."""

from io import StringIO

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from rest_framework.test import APIClient

from core.errors import ErrorCode

PATHS = {
    "/api/v1/notifications/channels/": {"get", "post"},
    "/api/v1/notifications/channels/{channel_id}/": {"get", "patch", "delete"},
    "/api/v1/notifications/channels/{channel_id}/validate/": {"post"},
    "/api/v1/notifications/rules/": {"get", "post"},
    "/api/v1/notifications/rules/{rule_id}/": {"get", "patch", "delete"},
    "/api/v1/notifications/rules/{rule_id}/validate/": {"post"},
    "/api/v1/notifications/providers/": {"get", "post"},
    "/api/v1/notifications/providers/{provider_id}/": {"get", "patch"},
    "/api/v1/notifications/providers/{provider_id}/test/": {"post"},
    "/api/v1/notifications/events/": {"get", "post"},
    "/api/v1/notifications/events/{event_id}/": {"get"},
    "/api/v1/notifications/deliveries/": {"get"},
    "/api/v1/notifications/deliveries/{delivery_id}/": {"get"},
    "/api/v1/notifications/deliveries/{delivery_id}/retry/": {"post"},
    "/api/v1/notifications/event-types/": {"get"},
    "/api/v1/notifications/event-types/{event_type}/": {"get"},
}
ERROR_REF = "#/components/schemas/Error"


@pytest.fixture(scope="module")
def openapi(django_db_blocker):
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operations(openapi):
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_the_schema_lists_every_operation(openapi):
    assert openapi["openapi"].startswith("3.")
    assert {path: set(item) for path, item in openapi["paths"].items()} == PATHS


def test_the_schema_validates_without_warnings(db):
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out, stderr=out)


def test_every_operation_documents_the_error_body(openapi):
    for path, method, operation in operations(openapi):
        responses = operation["responses"]
        wanted = {"401", "403", "500"}
        if "requestBody" in operation:
            wanted |= {"400", "415"}
        if "{" in path:
            wanted.add("404")
        assert wanted <= set(responses), (method, path)
        for status, response in responses.items():
            if int(status) >= 400:
                assert response["content"]["application/json"]["schema"]["$ref"] == ERROR_REF, (method, path, status)


def test_the_error_schema_names_every_code(openapi):
    error = openapi["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"code", "message"}
    assert set(error["properties"]["code"]["enum"]) == {code.value for code in ErrorCode}


def test_every_operation_has_examples(openapi):
    for path, method, operation in operations(openapi):
        success = [
            response
            for status, response in operation["responses"].items()
            if status.startswith("2") and "content" in response
        ]
        examples = [response["content"]["application/json"].get("examples") for response in success]
        if "requestBody" in operation:
            examples.append(operation["requestBody"]["content"]["application/json"].get("examples"))
        assert all(examples), (method, path)


def test_channel_schemas_are_keyed_by_channel_type(openapi):
    schemas = openapi["components"]["schemas"]
    channel = schemas["Channel"]
    assert channel["discriminator"]["propertyName"] == "channel_type"
    assert set(channel["discriminator"]["mapping"]) == {"webhook", "email"}
    webhook_config = schemas["WebhookPublicConfig"]["properties"]
    assert {"header_names", "has_signing_secret"} <= set(webhook_config)
    assert "headers" not in webhook_config and "signing_secret" not in webhook_config
    assert "password" not in schemas["SmtpAuthPublic"]["properties"]
    assert "password" in schemas["SmtpAuthRequest"]["properties"]


def test_provider_output_has_no_credentials(openapi):
    config = openapi["components"]["schemas"]["SmtpProviderPublicConfig"]["properties"]
    assert {"has_username", "has_password"} <= set(config)
    assert not {"username", "password"} & set(config)


def test_both_ways_to_authenticate_are_documented(openapi):
    schemes = openapi["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearerAuth"]["description"],
    }
    assert schemes["cookieAuth"]["in"] == "cookie"


def test_swagger_ui_is_served_with_its_own_assets(db):
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/api/schema/" in page
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        assert finders.find(f"drf_spectacular_sidecar/swagger-ui-dist/{asset}"), asset


def test_a_bad_host_under_api_is_a_json_400(db):
    response = APIClient().get("/api/schema/", HTTP_HOST="evil.example.com")
    assert response.status_code == 400
    assert response.json() == {"code": "PARSE_ERROR", "message": "The request is malformed."}
