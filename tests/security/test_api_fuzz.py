"""schemathesis over the REST API with NEGATIVE data: requests that break the schema on purpose
(wrong types, missing and extra fields, bad path and query values). tests/notifications/api/
test_schemathesis.py sends schema-conforming data; here every answer must be documented (status,
content type, body), never a 5xx. Bounded: a few examples per operation, derandomized, so the run
takes seconds and repeats exactly.
"""

from __future__ import annotations

import pytest
from hypothesis import settings
from schemathesis import GenerationMode

from tests.support.fuzzing import (  # noqa: F401  (fixtures)
    CHECKS,
    HEALTH_CHECKS,
    SEEDED_SECRETS,
    api_schema,
    bearer,
    keep_the_test_connection,
)

# Not negative_data_rejection: DRF coerces on purpose (0 -> false, 0.2 -> "0.2") and django-filter
# ignores empty filters and unknown orderings, which that check counts as accepting invalid data.
schema = api_schema()
schema.config.generation.update(modes=[GenerationMode.NEGATIVE])


@pytest.fixture
def object_ids(seeded, response_log):
    """Real objects for the path parameters, so that bad bodies reach the validation of real rows.
    Anything that sends targets a webhook on a closed loopback port."""
    response_log.secrets |= SEEDED_SECRETS
    return {
        "channel_id": seeded("channel"),
        "rule_id": seeded("rule"),
        "event_id": seeded("event"),
        "delivery_id": seeded("delivery"),
        "provider_id": seeded("provider"),
    }


@pytest.mark.fuzz
@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=HEALTH_CHECKS,
)
def test_negative_data_is_refused_with_a_documented_error(case, bearer, object_ids, settings):  # noqa: F811
    settings.NOTIFICATION_TEST_SEND_LIMIT = 0  # the rate limit has its own tests; here it would hide the rest
    # A generated (invalid) path parameter stays; a valid-looking UUID is replaced by a real row's.
    for name, value in list((case.path_parameters or {}).items()):
        if name in object_ids and isinstance(value, str) and len(value) == 36:
            case.path_parameters[name] = object_ids[name]
    case.call_and_validate(headers=bearer, checks=CHECKS)
