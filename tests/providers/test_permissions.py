"""The permission matrix, enforced by the services so that every interface shares it."""

import socket

import pytest
from django.contrib.auth.backends import ModelBackend

from core.errors import ErrorCode, NotAuthenticated, PermissionDenied
from providers.models import NotificationProvider
from providers.selectors import notification_provider_get, notification_provider_list
from providers.services import (
    notification_provider_config_update,
    notification_provider_create,
    notification_provider_test,
)
from tests.providers.factories import SmtpProviderFactory

CONFIG = {"relay": "127.0.0.1", "port": 2525, "insecure": True, "from_email": "no-reply@example.com"}
ALLOWED = "allowed"


@pytest.fixture
def actors(anonymous, make_user, superuser):
    return {
        "anonymous": anonymous,
        "no_group": make_user(),
        "viewer": make_user("NotificationProviderViewer"),
        "writer": make_user("NotificationProviderWriter"),
        "superuser": superuser,
    }


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on, so a permitted test fails fast with SMTP_CONNECT_FAILED."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def outcome(call) -> str:
    try:
        call()
    except (NotAuthenticated, PermissionDenied) as exc:
        return str(exc.code)
    return ALLOWED


MATRIX = {
    # list, get, create, update, test
    "anonymous": ("NOT_AUTHENTICATED",) * 5,
    "no_group": ("PERMISSION_DENIED",) * 5,
    "viewer": (ALLOWED, ALLOWED, "PERMISSION_DENIED", "PERMISSION_DENIED", "PERMISSION_DENIED"),
    "writer": (ALLOWED,) * 5,
    "superuser": (ALLOWED,) * 5,
}


@pytest.mark.django_db
@pytest.mark.parametrize("role", MATRIX)
def test_permission_matrix(role, actors, closed_port):
    actor = actors[role]
    provider = SmtpProviderFactory(config={**CONFIG, "port": closed_port, "admin_panel_url": "", "from_name": ""})

    def test():
        result = notification_provider_test(actor=actor, provider_id=provider.pk)
        assert (result.success, result.error_code) == (False, "SMTP_CONNECT_FAILED")

    list_, get, update, test_ = (
        outcome(lambda: list(notification_provider_list(actor=actor))),
        outcome(lambda: notification_provider_get(actor=actor, provider_id=provider.pk)),
        outcome(lambda: notification_provider_config_update(actor=actor, provider_id=provider.pk, config=CONFIG)),
        outcome(test),
    )
    # One provider per kind: without the existing one, only permissions decide whether create succeeds.
    provider.delete()
    create = outcome(lambda: notification_provider_create(actor=actor, provider="smtp", name="New", config=CONFIG))
    assert (list_, get, create, update, test_) == MATRIX[role]


class OneProviderBackend(ModelBackend):
    """Grants `change` for one provider only: the one named after the user."""

    def has_perm(self, user_obj, perm, obj=None):
        if obj is None:
            return super().has_perm(user_obj, perm)
        return perm == "providers.change_notificationprovider" and obj.name == f"owned by {user_obj.username}"


@pytest.mark.django_db
def test_update_is_checked_against_the_specific_provider(settings, make_user):
    settings.AUTHENTICATION_BACKENDS = [f"{__name__}.OneProviderBackend"]
    user = make_user(username="alice")
    provider = SmtpProviderFactory(name="owned by bob")

    # Nothing is granted for all providers, so creating is refused ...
    with pytest.raises(PermissionDenied):
        notification_provider_create(actor=user, provider="smtp", name="x", config=CONFIG)
    # ... and updating depends on which provider it is.
    with pytest.raises(PermissionDenied) as excinfo:
        notification_provider_config_update(actor=user, provider_id=provider.pk, config=CONFIG)
    assert excinfo.value.code == ErrorCode.PERMISSION_DENIED

    NotificationProvider.objects.filter(pk=provider.pk).update(name="owned by alice")
    updated = notification_provider_config_update(actor=user, provider_id=provider.pk, config=CONFIG)
    assert updated.config["relay"] == "127.0.0.1"
