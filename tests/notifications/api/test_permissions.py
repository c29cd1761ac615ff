"""The permission matrix of every notification endpoint: anonymous 401, no group 403, viewer read-only,
writer, publisher, the provider groups (nothing here), superuser everything."""

import pytest

from tests.core.api_fixtures import ROLES, Endpoint, check_permission

READERS = frozenset({"viewer", "writer"})
WRITERS = frozenset({"writer"})
EVENT_READERS = frozenset({"viewer", "writer", "publisher"})

ENDPOINTS = [
    Endpoint("GET", "channels/", 200, READERS),
    Endpoint(
        "POST",
        "channels/",
        201,
        WRITERS,
        {"name": "n", "channel_type": "email", "config": {"message": {"to_emails": ["ops@example.com"]}}},
    ),
    Endpoint("GET", "channels/{channel}/", 200, READERS),
    Endpoint("PATCH", "channels/{channel}/", 200, WRITERS, {"description": "changed"}),
    Endpoint("DELETE", "channels/{unused_channel}/", 204, WRITERS),
    Endpoint("POST", "channels/{channel}/validate/", 200, WRITERS, {"test_message": "hi"}),
    Endpoint("GET", "rules/", 200, READERS),
    Endpoint(
        "POST",
        "rules/",
        201,
        WRITERS,
        {"name": "n", "event_type": "notification.test", "channel": "{channel}", "message_template": "{{ message }}"},
    ),
    Endpoint("GET", "rules/{rule}/", 200, READERS),
    Endpoint("PATCH", "rules/{rule}/", 200, WRITERS, {"enabled": False}),
    Endpoint("DELETE", "rules/{rule}/", 204, WRITERS),
    Endpoint("POST", "rules/{rule}/validate/", 200, READERS, {"send": False}),
    Endpoint("POST", "rules/{rule}/validate/", 200, WRITERS, {"send": True}),
    Endpoint("GET", "events/", 200, EVENT_READERS),
    Endpoint(
        "POST",
        "events/",
        202,
        frozenset({"publisher"}),
        {"event_type": "notification.test", "payload": {"message": "hi"}},
    ),
    Endpoint("GET", "events/{event}/", 200, EVENT_READERS),
    Endpoint("GET", "deliveries/", 200, READERS),
    Endpoint("GET", "deliveries/{delivery}/", 200, READERS),
    Endpoint("POST", "deliveries/{delivery}/retry/", 202, WRITERS),
    Endpoint("GET", "event-types/", 200, EVENT_READERS),
    Endpoint("GET", "event-types/session.started/", 200, EVENT_READERS),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_permission_matrix(endpoint, role, client_for, seeded):
    check_permission(endpoint, role, client_for, seeded)
