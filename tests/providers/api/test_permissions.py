"""The permission matrix of the provider endpoints: only the provider groups (and superusers) get in."""

import pytest

from tests.core.api_fixtures import ROLES, Endpoint, check_permission, smtp_provider_config

READERS = frozenset({"provider_viewer", "provider_writer"})
WRITERS = frozenset({"provider_writer"})

ENDPOINTS = [
    Endpoint("GET", "providers/", 200, READERS),
    Endpoint(
        "POST", "providers/", 201, WRITERS, {"provider": "smtp", "name": "Relay", "config": smtp_provider_config()}
    ),
    Endpoint("GET", "providers/{provider}/", 200, READERS),
    Endpoint("PATCH", "providers/{provider}/", 200, WRITERS, {"config": smtp_provider_config(from_name="Ops")}),
    Endpoint("POST", "providers/{provider}/test/", 200, WRITERS, {}),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_permission_matrix(endpoint, role, client_for, seeded):
    check_permission(endpoint, role, client_for, seeded)
