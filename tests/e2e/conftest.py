"""Browser tests of the admin: Playwright for Python driving Debian's chromium against `live_server`.

`tests/e2e/ensure_browser.sh` installs chromium when it is missing (as root). Here a missing browser
skips the tests, or fails them under CI=true. Screenshots go to test-artifacts/e2e/.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from importlib import import_module
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.management import create_contenttypes

from providers.sender_cache import invalidate_sender_cache
from tests.conftest import IN_CI
from tests.factories import UserFactory
from tests.support.http import http_server, webhook_receiver  # noqa: F401  (fixtures)
from tests.support.worker import celery_broker, celery_worker  # noqa: F401  (fixtures)

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
PASSWORD = "pw-for-tests-1"  # UserFactory's
PERMISSION_GROUPS = import_module("notifications.migrations.0002_permission_groups").GROUPS


def _missing(message: str) -> None:
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One chromium per test module. Playwright's sync API keeps an event loop running in this
    thread, which Django would take for async code: the ORM is allowed here while it runs."""
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing: run tests/e2e/ensure_browser.sh (as root) to install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed: pip install -r requirements-dev.txt")
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, live_server) -> Iterator[object]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(autouse=True)
def _fresh_sender_cache() -> Iterator[None]:
    invalidate_sender_cache()
    yield
    invalidate_sender_cache()


@pytest.fixture
def permission_groups(transactional_db: None) -> None:
    """The groups of the data migration again: a transactional test's flush empties every table."""
    for app_config in apps.get_app_configs():
        create_contenttypes(app_config, verbosity=0)
        create_permissions(app_config, verbosity=0)
    for name, perms in PERMISSION_GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
            for app_label, codename in (perm.split(".") for perm in perms)
        )


@pytest.fixture
def staff_user(permission_groups: None) -> Callable[..., object]:
    """A staff user (admin login needs is_staff) in the named permission groups."""

    def make(username: str, *groups: str) -> object:
        user = UserFactory(username=username, is_staff=True)
        user.groups.set(Group.objects.filter(name__in=groups))
        return user

    return make


@pytest.fixture
def login(page) -> Callable[[str], None]:
    def sign_in(username: str, next_path: str = "/admin/") -> None:
        page.goto(f"/admin/login/?next={next_path}")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"**{next_path}")

    return sign_in


@pytest.fixture
def screenshot(page) -> Callable[[str], Path]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
