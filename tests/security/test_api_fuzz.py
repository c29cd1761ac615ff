"""schemathesis over the REST API with NEGATIVE data: requests that break the schema on purpose
(wrong types, missing and extra fields, bad path and query values). tests/notifications/api/
test_schemathesis.py sends schema-conforming data; here every answer must be documented (status,
content type, body), never a 5xx. Bounded: a few examples per operation, derandomized, so the run
takes seconds and repeats exactly.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.actors import SystemActor
from core.tokens import api_token_create
from tests.core.api_fixtures import (
    PROVIDER_PASSWORD,
    PROVIDER_USERNAME,
    WEBHOOK_HEADER_VALUE,
    WEBHOOK_SIGNING_SECRET,
)
from tests.factories import UserFactory

# Not negative_data_rejection: DRF coerces on purpose (0 -> false, 0.2 -> "0.2") and django-filter
# ignores empty filters and unknown orderings, which that check counts as accepting invalid data.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())
schema.config.generation.update(modes=[GenerationMode.NEGATIVE])


@pytest.fixture
def bearer(db):
    user = UserFactory(username="negative-fuzzer", is_superuser=True)
    _, raw = api_token_create(actor=SystemActor("tests"), user=user, name="fuzz")
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def object_ids(seeded, response_log):
    """Real objects for the path parameters, so that bad bodies reach the validation of real rows.
    Anything that sends targets a webhook on a closed loopback port."""
    response_log.secrets |= {WEBHOOK_HEADER_VALUE, WEBHOOK_SIGNING_SECRET, PROVIDER_USERNAME, PROVIDER_PASSWORD}
    return {
        "channel_id": seeded("channel"),
        "rule_id": seeded("rule"),
        "event_id": seeded("event"),
        "delivery_id": seeded("delivery"),
        "provider_id": seeded("provider"),
    }


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.mark.fuzz
@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_negative_data_is_refused_with_a_documented_error(case, bearer, object_ids, settings):
    settings.NOTIFICATION_TEST_SEND_LIMIT = 0  # the rate limit has its own tests; here it would hide the rest
    # A generated (invalid) path parameter stays; a valid-looking UUID is replaced by a real row's.
    for name, value in list((case.path_parameters or {}).items()):
        if name in object_ids and isinstance(value, str) and len(value) == 36:
            case.path_parameters[name] = object_ids[name]
    case.call_and_validate(headers=bearer, checks=CHECKS)
