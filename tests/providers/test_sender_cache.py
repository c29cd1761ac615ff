"""The per-process SMTP sender cache, observed through its `notification.smtp_sender` spans."""

import threading

import pytest

from providers.models import NotificationProvider
from providers.sender_cache import SmtpSender, get_smtp_sender, invalidate_sender_cache
from providers.smtp import SmtpEndpoint
from tests.providers.factories import SMTP_CONFIG, SmtpProviderFactory
from tests.support.otel import attributes, spans_named


def sender_spans(exporter) -> list[dict]:
    return [attributes(span) for span in spans_named(exporter, "notification.smtp_sender")]


@pytest.mark.django_db
def test_miss_then_hit_then_invalidate(span_exporter):
    provider = SmtpProviderFactory()

    first = get_smtp_sender()
    second = get_smtp_sender()
    invalidate_sender_cache()
    third = get_smtp_sender()

    assert isinstance(first, SmtpSender) and first == second == third
    assert first.provider_id == provider.pk
    assert first.config.relay == "smtp.example.com" and first.config.password == "smtp-pass-1"
    assert first.endpoint == SmtpEndpoint(
        host="smtp.example.com", port=587, tls=True, username="smtp-user", password="smtp-pass-1"
    )
    expected = {"provider_configured": True, "provider_id": str(provider.pk)}
    assert sender_spans(span_exporter) == [
        {**expected, "cache_hit": False},
        {**expected, "cache_hit": True},
        {**expected, "cache_hit": False},
    ]


@pytest.mark.django_db
def test_a_missing_provider_is_not_cached(span_exporter):
    assert get_smtp_sender() is None
    assert get_smtp_sender() is None
    # Created behind the cache's back (as another process would): seen on the very next call.
    provider = SmtpProviderFactory()
    assert get_smtp_sender().provider_id == provider.pk

    assert sender_spans(span_exporter) == [
        {"provider_configured": False, "cache_hit": False},
        {"provider_configured": False, "cache_hit": False},
        {"provider_configured": True, "provider_id": str(provider.pk), "cache_hit": False},
    ]


@pytest.mark.django_db
def test_another_process_change_is_seen_after_the_ttl(settings, span_exporter):
    provider = SmtpProviderFactory()
    assert get_smtp_sender().config.relay == "smtp.example.com"
    NotificationProvider.objects.filter(pk=provider.pk).update(config={**provider.config, "relay": "relay2.example"})

    # Within the TTL the cached sender is served ...
    assert get_smtp_sender().config.relay == "smtp.example.com"
    # ... and once it has run out, the database is read again.
    settings.NOTIFICATION_SENDER_CACHE_TTL_SECONDS = 0
    invalidate_sender_cache()
    get_smtp_sender()
    assert get_smtp_sender().config.relay == "relay2.example"

    assert [span["cache_hit"] for span in sender_spans(span_exporter)] == [False, True, False, False]


@pytest.mark.django_db
def test_insecure_provider_gives_a_plaintext_endpoint():
    SmtpProviderFactory(config={**SMTP_CONFIG, "insecure": True}, secrets={})

    endpoint = get_smtp_sender().endpoint

    assert endpoint.tls is False and endpoint.username == "" and endpoint.password == ""


@pytest.mark.django_db
def test_spans_carry_no_credential(span_exporter):
    SmtpProviderFactory(secrets={"username": "span-user-x", "password": "span-pw-y"})
    get_smtp_sender()
    get_smtp_sender()

    for span in spans_named(span_exporter, "notification.smtp_sender"):
        for value in attributes(span).values():
            assert "span-user-x" not in str(value) and "span-pw-y" not in str(value)


@pytest.mark.django_db
def test_concurrent_hits_share_one_cached_sender(span_exporter):
    SmtpProviderFactory()
    cached = get_smtp_sender()
    results: list[SmtpSender | None] = []

    def read() -> None:
        results.extend(get_smtp_sender() for _ in range(50))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 400 and all(result is cached for result in results)
    assert sum(span["cache_hit"] for span in sender_spans(span_exporter)) == 400
