"""The SSRF guard, alone and on the real send path (webhook kind, delivery and channel validation)."""

import socket

import pytest

from core.errors import ErrorCode
from notifications import ssrf
from notifications.channel_kinds.base import RenderedMessage, SendFailure
from notifications.channel_kinds.webhook import WebhookKind
from notifications.models import Channel

REFUSED_LITERALS = [
    "127.0.0.1",
    "127.10.20.30",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "169.254.1.1",  # link-local
    "0.0.0.0",
    "100.64.0.1",  # shared address space
    "224.0.0.1",  # multicast
    "240.0.0.1",  # reserved
    "[::1]",
    "[::]",
    "[fe80::1]",
    "[fc00::1]",
    "[fd00:ec2::254]",  # AWS metadata over IPv6
    "[ff02::1]",
    "[::ffff:127.0.0.1]",  # IPv4-mapped loopback
    "[::ffff:a9fe:a9fe]",  # IPv4-mapped 169.254.169.254
    "[::ffff:10.0.0.1]",
    "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1
    "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
    "2130706433",  # decimal 127.0.0.1
    "0177.0.0.1",  # octal
    "0x7f.0.0.1",  # hex
    "0x7f000001",
    "127.1",  # short form
    "017700000001",  # octal as one number
    "3232235777",  # decimal 192.168.1.1
    "localhost",  # a name resolving to loopback
]


@pytest.fixture
def no_allowed_networks(settings):
    settings.NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS = []


@pytest.mark.parametrize("host", REFUSED_LITERALS)
def test_internal_addresses_in_every_spelling_are_refused(no_allowed_networks, host):
    with pytest.raises(ssrf.AddressRefused) as error:
        ssrf.vet_host(host, 80)
    assert error.value.code == ErrorCode.WEBHOOK_ADDRESS_REFUSED


@pytest.mark.parametrize("host", ["93.184.215.14", "[2606:4700::1111]", "[::ffff:8.8.8.8]", "[2002:808:808::]"])
def test_public_addresses_pass(no_allowed_networks, host):
    assert ssrf.vet_host(host, 443)


def test_the_allowed_networks_setting_admits_exactly_what_it_names(settings):
    settings.NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.2/32", "10.1.0.0/16"]
    assert ssrf.vet_host("127.0.0.2", 80) == "127.0.0.2"
    assert ssrf.vet_host("10.1.2.3", 80) == "10.1.2.3"
    assert ssrf.vet_host("[::ffff:10.1.2.3]", 80)
    for host in ("127.0.0.1", "10.2.0.1", "169.254.169.254"):
        with pytest.raises(ssrf.AddressRefused):
            ssrf.vet_host(host, 80)


def test_a_decimal_spelling_resolves_to_the_address_the_os_would_use(settings):
    settings.NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    assert ssrf.vet_host("2130706433", 80) == "127.0.0.1"
    assert ssrf.vet_host("0177.0.0.1", 80) == "127.0.0.1"


def test_an_unresolvable_name_is_a_retryable_failure():
    with pytest.raises(ssrf.ResolutionFailed) as error:
        ssrf.vet_host("no-such-host.invalid", 80)
    assert error.value.code == ErrorCode.WEBHOOK_CONNECT_FAILED


def send(url: str, **secrets) -> None:
    channel = Channel(channel_type="webhook", config={"url": url, "method": "POST", "timeout": 2.0}, secrets=secrets)
    WebhookKind().send(channel=channel, message=RenderedMessage(body="{}"), sender=None, delivery_id="d-1")


@pytest.mark.parametrize(
    "url_for",
    [
        lambda port: f"http://127.0.0.1:{port}/hook",
        lambda port: f"http://localhost:{port}/hook",
        lambda port: f"http://[::ffff:127.0.0.1]:{port}/hook",
        lambda port: f"http://2130706433:{port}/hook",
        lambda port: f"http://0177.0.0.1:{port}/hook",
    ],
)
def test_a_refused_address_is_a_permanent_failure_and_nothing_is_sent(no_allowed_networks, webhook_receiver, url_for):
    receiver = webhook_receiver()
    with pytest.raises(SendFailure) as error:
        send(url_for(receiver.server.port))
    assert (error.value.code, error.value.transient) == (ErrorCode.WEBHOOK_ADDRESS_REFUSED, False)
    assert receiver.requests == []


def test_a_redirect_to_a_refused_address_is_refused(settings, webhook_receiver, http_server):
    # The allowed server listens on 127.0.0.2; the redirect target on 127.0.0.1 is not admitted.
    settings.NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    internal = webhook_receiver()
    public = webhook_receiver(host="127.0.0.2", responses=[(302, {"Location": internal.url}, "")])

    with pytest.raises(SendFailure) as error:
        send(public.url)

    assert (error.value.code, error.value.transient) == (ErrorCode.WEBHOOK_ADDRESS_REFUSED, False)
    assert len(public.requests) == 1
    assert internal.requests == []


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://10.0.0.1/"])
def test_redirects_to_internal_literals_are_refused_before_connecting(settings, webhook_receiver, target):
    settings.NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    public = webhook_receiver(host="127.0.0.2", responses=[(307, {"Location": target}, "")])
    with pytest.raises(SendFailure) as error:
        send(public.url)
    assert error.value.code == ErrorCode.WEBHOOK_ADDRESS_REFUSED


def test_the_connection_goes_to_the_vetted_address_even_if_dns_changes_its_answer(
    settings, webhook_receiver, monkeypatch
):
    """DNS rebinding: the first answer passes the guard, later ones point elsewhere."""
    settings.NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    receiver = webhook_receiver()
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["127.0.0.1"])

    def rebinding_getaddrinfo(host, port, *args, **kwargs):
        # A stand-in for a DNS server, which cannot run here: one good answer, then an unroutable one.
        if host == "rebind.test":
            return real_getaddrinfo(next(answers, "192.0.2.1"), port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    send(f"http://rebind.test:{receiver.server.port}/hook")

    (request,) = receiver.requests
    assert request.headers["Host"] == f"rebind.test:{receiver.server.port}"
