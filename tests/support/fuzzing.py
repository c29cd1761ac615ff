"""What the two schemathesis suites share: the checks, the schema loaded over WSGI, a superuser's
Bearer token, and the test's database connection kept across the in-process requests.

    from tests.support.fuzzing import CHECKS, HEALTH_CHECKS, api_schema, bearer, keep_the_test_connection
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck
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

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# The seeded rows and the token are shared by all examples of an operation, on purpose.
HEALTH_CHECKS = [
    HealthCheck.function_scoped_fixture,
    HealthCheck.too_slow,
    HealthCheck.filter_too_much,
    HealthCheck.data_too_large,
]
# The stored secrets of the seeded rows, which no response may carry.
SEEDED_SECRETS = {WEBHOOK_HEADER_VALUE, WEBHOOK_SIGNING_SECRET, PROVIDER_USERNAME, PROVIDER_PASSWORD}


def api_schema() -> Any:
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())


@pytest.fixture
def bearer(db: None) -> dict[str, str]:
    user = UserFactory(username="fuzzer", is_superuser=True)
    _, raw = api_token_create(actor=SystemActor("tests"), user=user, name="fuzz")
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture(autouse=True)
def keep_the_test_connection() -> Iterator[None]:
    """As Django's test client does: starting or finishing a request must not close the connection
    that holds the test's transaction."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)
