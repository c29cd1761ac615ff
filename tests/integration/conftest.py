from collections.abc import Iterator

import pytest

from providers.sender_cache import invalidate_sender_cache
from tests.integration.faults_support import fault_worker, http_sink, smtp_sink  # noqa: F401  (fixtures)
from tests.notifications.conftest import smtp_server  # noqa: F401  (fixture)
from tests.support.http import http_server, webhook_receiver  # noqa: F401  (fixtures)
from tests.support.worker import celery_broker, celery_worker  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def _fresh_sender_cache() -> Iterator[None]:
    invalidate_sender_cache()
    yield
    invalidate_sender_cache()
