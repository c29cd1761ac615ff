"""A corpus of SSRF tricks against a real "internal" HTTP server on 127.0.0.1: every spelling of an
internal address is refused on a real delivery, on channel validation over REST and over GraphQL,
and after a redirect from an allowed server; the internal server never sees a request.

The production default is used: NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS (and the SMTP one) empty.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import pytest

from core.errors import ErrorCode
from notifications.delivery import delivery_process
from notifications.models import Channel, Delivery, DeliveryStatus
from notifications.services import emit
from tests.core.api_fixtures import API
from tests.notifications.builders import ACTOR, rule

pytestmark = pytest.mark.django_db

# Each spelling points at the internal server's port; `{port}` is filled in.
LOOPBACK_SPELLINGS = {
    "dotted": "http://127.0.0.1:{port}/hook",
    "decimal": "http://2130706433:{port}/hook",
    "octal": "http://0177.0.0.1:{port}/hook",
    "octal-one-number": "http://017700000001:{port}/hook",
    "hex": "http://0x7f000001:{port}/hook",
    "hex-dotted": "http://0x7f.0.0.1:{port}/hook",
    "short": "http://127.1:{port}/hook",
    "zero-padded": "http://127.000.000.001:{port}/hook",
    "other-loopback": "http://127.42.42.42:{port}/hook",
    "ipv4-mapped": "http://[::ffff:127.0.0.1]:{port}/hook",
    "ipv4-mapped-hex": "http://[::ffff:7f00:1]:{port}/hook",
    "ipv4-mapped-long": "http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/hook",
    "nat64": "http://[64:ff9b::7f00:1]:{port}/hook",
    "6to4": "http://[2002:7f00:1::]:{port}/hook",
    "ipv6-loopback": "http://[::1]:{port}/hook",
    "ipv6-unspecified": "http://[::]:{port}/hook",
    "unspecified": "http://0.0.0.0:{port}/hook",
    "zero": "http://0:{port}/hook",
    "localhost": "http://localhost:{port}/hook",
    "localhost-trailing-dot": "http://localhost.:{port}/hook",
    "ip-trailing-dot": "http://127.0.0.1.:{port}/hook",
    "uppercase": "HTTP://LOCALHOST:{port}/hook",
    "userinfo": "http://user@127.0.0.1:{port}/hook",
    "userinfo-password": "http://user:pass@127.0.0.1:{port}/hook",
    "userinfo-looks-public": "http://hooks.example.com@127.0.0.1:{port}/hook",
    "https": "https://127.0.0.1:{port}/hook",
    "ip6-localhost": "http://ip6-localhost:{port}/hook",  # resolvable on some hosts only
}
# Internal destinations where nothing listens here: refused before any connection is tried.
OTHER_INTERNAL = {
    "aws-metadata": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "aws-metadata-ipv6": "http://[fd00:ec2::254]/latest/meta-data/",
    "aws-metadata-decimal": "http://2852039166/latest/meta-data/",
    "aws-metadata-mapped": "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
    "gcp-metadata-alias": "http://169.254.169.254/computeMetadata/v1/",
    "link-local": "http://169.254.1.1/",
    "ipv6-link-local": "http://[fe80::1]/",
    "private-10": "http://10.0.0.1/",
    "private-172": "http://172.16.0.1/",
    "private-192": "http://192.168.0.1/",
    "unique-local": "http://[fc00::1]/",
    "shared-address-space": "http://100.64.0.1/",
    "shared-address-space-top": "http://100.127.255.254/",
    "multicast": "http://224.0.0.1/",
    "reserved": "http://240.0.0.1/",
    "broadcast": "http://255.255.255.255/",
}
SPELLINGS = {**LOOPBACK_SPELLINGS, **OTHER_INTERNAL}


def _resolves(url: str) -> bool:
    host = url.split("//", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    host = host.rsplit(":", 1)[0] if not host.endswith("]") and host.count(":") == 1 else host
    host = host.split("]")[0].lstrip("[") if host.startswith("[") else host
    try:
        socket.getaddrinfo(host, 80)
    except (socket.gaierror, UnicodeError):
        return False
    return True


def _expected_code(url: str) -> str:
    # A name that does not resolve here is never connected to: a (retryable) connection failure.
    return ErrorCode.WEBHOOK_ADDRESS_REFUSED if _resolves(url) else ErrorCode.WEBHOOK_CONNECT_FAILED


@pytest.fixture
def production_guard(settings):
    settings.NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS = []
    settings.NOTIFICATION_SMTP_ALLOWED_NETWORKS = []


@pytest.fixture
def internal(production_guard, webhook_receiver):
    """The service an attacker wants to reach: a real HTTP server on 127.0.0.1."""
    return webhook_receiver()


def stored_webhook(url: str, name: str = "target") -> Channel:
    """A webhook channel as stored, without the save-time URL check (which refuses some spellings
    already): the send-time guard must hold on its own, e.g. for channels saved before a change."""
    return Channel.objects.create(
        name=name,
        channel_type="webhook",
        config={"url": url, "method": "POST", "timeout": 2.0, "success_status_codes": []},
        secrets={"headers": {"Authorization": "Bearer internal-token-3c9d"}},
    )


def deliver_once(channel: Channel) -> Delivery:
    """Emits an event matched by a rule on `channel` and runs its delivery here, as a worker would."""
    rule(channel, event_type="notification.test", message_template='{"text": "{{ message }}"}')
    result = emit(actor=ACTOR, event_type="notification.test", payload={"message": "probe"})
    (delivery,) = result.deliveries
    delivery_process(delivery_id=str(delivery.pk))
    delivery.refresh_from_db()
    return delivery


def _url(template: str, port: int) -> str:
    return template.format(port=port)


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_real_delivery_is_refused(internal, spelling):
    url = _url(SPELLINGS[spelling], internal.server.port)
    delivery = deliver_once(stored_webhook(url))

    code = _expected_code(url)
    assert delivery.last_error.startswith(f"{code}:"), delivery.last_error
    if code == ErrorCode.WEBHOOK_ADDRESS_REFUSED:
        assert (delivery.status, delivery.failure_stage, delivery.attempts) == (
            DeliveryStatus.FAILED,
            "webhook_send",
            1,
        )
    assert internal.requests == []


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_channel_validation_over_rest_is_refused(internal, client_for, spelling):
    url = _url(SPELLINGS[spelling], internal.server.port)
    channel = stored_webhook(url)

    response = client_for("writer").post(
        f"{API}channels/{channel.pk}/validate/", json.dumps({"test_message": "probe"}), content_type="application/json"
    )

    body = response.json()
    assert response.status_code == 200, body
    assert (body["success"], body["error"]["code"]) == (False, _expected_code(url))
    assert internal.requests == []


VALIDATE = """
mutation($id: ID!) {
  validateNotificationChannel(id: $id, testMessage: "probe") {
    ... on ValidateNotificationChannelPayloadSuccess { success error { code message } }
    ... on ValidateNotificationChannelPayloadError { code }
  }
}
"""


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_channel_validation_over_graphql_is_refused(internal, as_user, spelling):
    url = _url(SPELLINGS[spelling], internal.server.port)
    channel = stored_webhook(url)

    data = as_user("NotificationWriter")(VALIDATE, {"id": str(channel.pk)})["validateNotificationChannel"]

    assert (data["success"], data["error"]["code"]) == (False, _expected_code(url))
    assert internal.requests == []


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("spelling", ["dotted", "decimal", "ipv4-mapped", "localhost", "unspecified", "userinfo"])
def test_a_redirect_from_an_allowed_server_to_an_internal_address_is_refused(
    settings, webhook_receiver, spelling, status
):
    settings.NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.2/32"]  # the "public" server only
    internal = webhook_receiver()
    target = _url(LOOPBACK_SPELLINGS[spelling], internal.server.port)
    public = webhook_receiver(host="127.0.0.2", responses=[(status, {"Location": target}, "")])

    delivery = deliver_once(stored_webhook(public.url))

    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_error.startswith(f"{ErrorCode.WEBHOOK_ADDRESS_REFUSED}:"), delivery.last_error
    assert len(public.requests) == 1
    assert internal.requests == []


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "ftp://127.0.0.1/",
        "dict://127.0.0.1:11211/stat",
    ],
)
def test_a_redirect_to_metadata_or_another_scheme_is_refused(settings, webhook_receiver, location, client_for):
    settings.NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    public = webhook_receiver(host="127.0.0.2", responses=[(302, {"Location": location}, "")])
    channel = stored_webhook(public.url)

    response = client_for("writer").post(
        f"{API}channels/{channel.pk}/validate/", json.dumps({"test_message": "probe"}), content_type="application/json"
    )

    assert response.json()["error"]["code"] == ErrorCode.WEBHOOK_ADDRESS_REFUSED
    assert len(public.requests) == 1


def test_a_redirect_loop_ends_after_the_configured_number_of_hops(settings, webhook_receiver):
    settings.NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    settings.NOTIFICATION_WEBHOOK_MAX_REDIRECTS = 3
    public = webhook_receiver(host="127.0.0.2", responses=[(302, {"Location": "/hook"}, "")])

    delivery = deliver_once(stored_webhook(public.url))

    assert delivery.last_error.startswith(f"{ErrorCode.WEBHOOK_BAD_STATUS}:")
    assert len(public.requests) == 4


def test_the_channel_headers_do_not_follow_a_redirect_to_another_origin(settings, webhook_receiver):
    settings.NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    other = webhook_receiver(host="127.0.0.3")
    public = webhook_receiver(host="127.0.0.2", responses=[(307, {"Location": other.url}, "")])

    delivery = deliver_once(stored_webhook(public.url))

    assert delivery.status == DeliveryStatus.SENT
    assert public.requests[0].headers["Authorization"] == "Bearer internal-token-3c9d"
    assert "Authorization" not in other.requests[0].headers


# --- Email channels with their own SMTP server ----------------------------------------------------

SMTP_HOSTS = ["127.0.0.1", "localhost", "2130706433", "0177.0.0.1", "::ffff:127.0.0.1", "0.0.0.0", "127.1"]


def stored_email_channel(host: str, port: int) -> Channel:
    return Channel.objects.create(
        name="mail",
        channel_type="email",
        config={
            "message": {"from_email": "a@example.com", "to_emails": ["b@example.com"], "subject_template": "x"},
            "smtp": {"host": host, "port": port, "use_tls": False, "timeout": 2.0},
            "auth": None,
        },
        secrets={},
    )


@pytest.mark.parametrize("host", SMTP_HOSTS)
def test_an_email_channels_own_smtp_server_is_held_to_the_guard(production_guard, smtp_server, client_for, host):
    """A channel writer picks this server; unguarded, an email channel would be a port scanner and a
    way into an internal relay that trusts internal clients."""
    sink = smtp_server(auth_require_tls=False)
    channel = stored_email_channel(host, sink.port)

    response = client_for("writer").post(
        f"{API}channels/{channel.pk}/validate/", json.dumps({"test_message": "probe"}), content_type="application/json"
    )
    delivery = deliver_once(channel)

    assert response.json()["error"]["code"] == ErrorCode.SMTP_ADDRESS_REFUSED
    assert delivery.last_error.startswith(f"{ErrorCode.SMTP_ADDRESS_REFUSED}:")
    assert (delivery.status, delivery.failure_stage) == (DeliveryStatus.FAILED, "smtp_send")
    assert sink.messages == []


def test_the_smtp_guard_admits_exactly_the_allowed_networks(production_guard, settings, smtp_server):
    settings.NOTIFICATION_SMTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    sink = smtp_server(auth_require_tls=False)

    delivered = deliver_once(stored_email_channel("127.0.0.1", sink.port))

    assert delivered.status == DeliveryStatus.SENT
    assert len(sink.messages) == 1


# --- The provider relay ---------------------------------------------------------------------------


def test_the_provider_relay_may_be_internal_since_the_operator_chooses_it(production_guard, client_for, smtp_server):
    """The runtime provider is configured by a NotificationProviderWriter (an operator), and a local
    relay is the common case, so its test is not held to the guard; it is permission-checked, audited
    and rate-limited instead (tests/security/test_rate_limits.py)."""
    from tests.notifications.builders import smtp_provider

    sink = smtp_server(auth_require_tls=False)
    provider = smtp_provider(sink.host, sink.port)
    client = client_for("superuser")

    response = client.post(
        f"{API}providers/{provider.pk}/test/",
        json.dumps({"send_to": "ops@example.com"}),
        content_type="application/json",
    )

    assert response.json()["success"] is True
    assert len(sink.messages) == 1
    denied: Callable[..., Any] = client_for("writer").post
    assert denied(f"{API}providers/{provider.pk}/test/", "{}", content_type="application/json").status_code == 403
