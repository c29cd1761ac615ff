"""schemathesis against /api/schema/, in-process over WSGI: for every operation, generated requests
never get a 5xx, and every response conforms to the schema (status code, content type, body).

Path parameters point at seeded objects, so operations act on real rows, not only on 404s. Anything
that sends (channel and rule validation) targets a channel that no fuzzed request can reconfigure:
its webhook points at a closed loopback port. The provider test keeps generated ids, because the one
SMTP provider is itself fuzzed through PATCH and must never be tried against a generated relay.
"""

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.actors import SystemActor
from core.tokens import api_token_create
from notifications.services import rule_create
from tests.core.api_fixtures import (
    PROVIDER_PASSWORD,
    PROVIDER_USERNAME,
    WEBHOOK_HEADER_VALUE,
    WEBHOOK_SIGNING_SECRET,
)
from tests.factories import UserFactory

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def fuzz_ids(seeded, response_log):
    """Path parameter values per operation (method, parameter); absent ones keep generated values."""
    channel, unused_channel, rule = seeded("channel"), seeded("unused_channel"), seeded("rule")
    spare_rule = str(
        rule_create(
            actor=SystemActor("tests"),
            name="spare",
            event_type="notification.test",
            channel=unused_channel,
            message_template="{{ message }}",
        ).pk
    )
    delivery, event, provider = seeded("delivery"), seeded("event"), seeded("provider")
    response_log.secrets |= {WEBHOOK_HEADER_VALUE, WEBHOOK_SIGNING_SECRET, PROVIDER_USERNAME, PROVIDER_PASSWORD}
    return {
        "channels/{channel_id}/": unused_channel,
        "channels/{channel_id}/validate/": channel,
        "rules/{rule_id}/": spare_rule,
        "rules/{rule_id}/validate/": rule,
        "events/{event_id}/": event,
        "deliveries/{delivery_id}/": delivery,
        "deliveries/{delivery_id}/retry/": delivery,
        "providers/{provider_id}/": provider,
    }


@pytest.fixture
def bearer(db):
    _, raw = api_token_create(
        actor=SystemActor("tests"), user=UserFactory(username="fuzzer", is_superuser=True), name="fuzz"
    )
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """As Django's test client does: starting or finishing a request must not close the connection
    that holds the test's transaction."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())


@pytest.mark.fuzz
@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    # The seeded rows and the token are shared by all examples of an operation, on purpose.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_api_conforms_to_its_schema(case, bearer, fuzz_ids):
    relative = case.path.removeprefix("/api/v1/notifications/")
    if relative in fuzz_ids:
        (name,) = case.path_parameters
        case.path_parameters = {name: fuzz_ids[relative]}
    case.call_and_validate(headers=bearer, checks=CHECKS)
