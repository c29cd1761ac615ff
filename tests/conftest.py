import os
import socket

import pytest
from django.contrib.auth.models import AnonymousUser

from core.actors import SystemActor
from tests.factories import UserFactory

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def service_or_skip(name: str, host: str, port: int) -> None:
    """Under CI a missing service fails the test; elsewhere it skips, saying what to start."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return
    except OSError:
        message = f"{name} is not reachable on {host}:{port}; start it to run this test"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def redis_url() -> str:
    service_or_skip("Redis", "127.0.0.1", 6379)
    return os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def require_postgres(settings) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        if IN_CI:
            pytest.fail("CI=true but the tests are not running on PostgreSQL")
        pytest.skip("needs PostgreSQL on 127.0.0.1:5432")


@pytest.fixture
def system_actor() -> SystemActor:
    return SystemActor("tests")


@pytest.fixture
def anonymous() -> AnonymousUser:
    return AnonymousUser()


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


@pytest.fixture
def make_user(db):
    def make(*groups: str, **kwargs):
        return UserFactory(groups=list(groups), **kwargs)

    return make
