import pytest
from django.db import IntegrityError, transaction
from django.db.models.deletion import ProtectedError

from notifications.models import Channel, Delivery, Event
from providers.models import NotificationProvider
from tests.factories import EventFactory, RuleFactory, WebhookChannelFactory

pytestmark = pytest.mark.django_db


def test_channel_name_is_unique():
    WebhookChannelFactory(name="ops")
    with pytest.raises(IntegrityError), transaction.atomic():
        WebhookChannelFactory(name="ops")


def test_one_provider_row_per_kind():
    NotificationProvider.objects.create(name="a", provider="smtp", config={})
    with pytest.raises(IntegrityError), transaction.atomic():
        NotificationProvider.objects.create(name="b", provider="smtp", config={})
    assert NotificationProvider.objects.count() == 1


def test_deleting_a_channel_that_a_rule_uses_is_refused():
    rule = RuleFactory()
    with pytest.raises(ProtectedError):
        rule.channel.delete()
    assert Channel.objects.filter(pk=rule.channel_id).exists()


def test_idempotency_key_is_unique_when_given():
    EventFactory(idempotency_key="k-1")
    EventFactory(idempotency_key=None)
    EventFactory(idempotency_key=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        EventFactory(idempotency_key="k-1")
    assert Event.objects.count() == 3


def test_one_delivery_per_event_and_rule():
    rule = RuleFactory()
    event = EventFactory()
    Delivery.objects.create(event=event, rule=rule, channel=rule.channel)
    with pytest.raises(IntegrityError), transaction.atomic():
        Delivery.objects.create(event=event, rule=rule, channel=rule.channel)
