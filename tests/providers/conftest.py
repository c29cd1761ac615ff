from collections.abc import Iterator

import pytest

from providers.sender_cache import invalidate_sender_cache
from tests.support.otel import span_exporter  # noqa: F401  (fixture)
from tests.support.smtp import self_signed_cert, smtp_server  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def _fresh_sender_cache() -> Iterator[None]:
    # The cache is per process: a provider from an earlier (rolled back) test must not linger.
    invalidate_sender_cache()
    yield
    invalidate_sender_cache()
