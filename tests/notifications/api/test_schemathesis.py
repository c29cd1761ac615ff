"""schemathesis against /api/schema/, in-process over WSGI: for every operation, generated requests
never get a 5xx, and every response conforms to the schema (status code, content type, body).

Path parameters point at seeded objects, so operations act on real rows, not only on 404s. Anything
that sends (channel and rule validation) targets a channel that no fuzzed request can reconfigure:
its webhook points at a closed loopback port. The provider test keeps generated ids, because the one
SMTP provider is itself fuzzed through PATCH and must never be tried against a generated relay.
"""

import pytest
from hypothesis import settings

from core.actors import SystemActor
from notifications.services import rule_create
from tests.support.fuzzing import (  # noqa: F401  (fixtures)
    CHECKS,
    HEALTH_CHECKS,
    SEEDED_SECRETS,
    api_schema,
    bearer,
    keep_the_test_connection,
)


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
    response_log.secrets |= SEEDED_SECRETS
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


schema = api_schema()


@pytest.mark.fuzz
@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=HEALTH_CHECKS,
)
def test_api_conforms_to_its_schema(case, bearer, fuzz_ids):  # noqa: F811
    relative = case.path.removeprefix("/api/v1/notifications/")
    if relative in fuzz_ids:
        (name,) = case.path_parameters
        case.path_parameters = {name: fuzz_ids[relative]}
    case.call_and_validate(headers=bearer, checks=CHECKS)
