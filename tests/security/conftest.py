"""Fixtures for the abuse and secrets tests: the shared response scan, GraphQL client, real servers."""

from collections.abc import Iterator

import pytest

from providers.sender_cache import invalidate_sender_cache
from tests.core.api_fixtures import (  # noqa: F401  (fixtures and hooks shared by the API tests)
    _scan_responses_for_secrets,
    client_for,
    pytest_configure,
    response_log,
    seeded,
)
from tests.notifications.conftest import smtp_server, span_exporter  # noqa: F401  (fixtures)
from tests.notifications.graphql.client import as_user, gql, secret_ledger  # noqa: F401  (fixtures)
from tests.support.http import http_server, webhook_receiver  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def _fresh_sender_cache() -> Iterator[None]:
    invalidate_sender_cache()
    yield
    invalidate_sender_cache()
