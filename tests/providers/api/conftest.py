from tests.core.api_fixtures import (  # noqa: F401  (fixtures and hooks shared by the API tests)
    _scan_responses_for_secrets,
    anon_client,
    client_for,
    email_channel,
    provider,
    pytest_configure,
    response_log,
    rule,
    seeded,
    webhook_channel,
)
