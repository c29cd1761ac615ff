"""Every admin page answers, without a browser: what a superuser may open, and what nobody may."""

from __future__ import annotations

import pytest

from core.actors import SystemActor
from core.services import audit_entry_create
from notifications.models import Delivery, DeliveryStatus
from providers.services import notification_provider_create
from tests.factories import EventFactory, RuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def objects() -> dict[str, str]:
    rule = RuleFactory()
    event = EventFactory()
    delivery = Delivery.objects.create(event=event, rule=rule, channel=rule.channel, status=DeliveryStatus.FAILED)
    provider = notification_provider_create(
        actor=SystemActor("tests"),
        provider="smtp",
        name="Primary SMTP",
        config={"relay": "smtp.example.com", "from_email": "no-reply@example.com"},
    )
    entry = audit_entry_create(actor=SystemActor("tests"), action="test", object_type="test")
    return {
        "channel": str(rule.channel.pk),
        "rule": str(rule.pk),
        "event": str(event.pk),
        "delivery": str(delivery.pk),
        "provider": str(provider.pk),
        "entry": str(entry.pk),
    }


OPEN = [
    "/admin/",
    "/admin/notifications/",
    "/admin/providers/",
    "/admin/core/",
    "/notification-providers/",
    "/notification-providers/add/",
    "/notification-providers/{provider}/change/",
    "/notification-providers/{provider}/history/",
    "/notification-providers/{provider}/test/",
    "/admin/notifications/channel/",
    "/admin/notifications/channel/add/",
    "/admin/notifications/channel/{channel}/change/",
    "/admin/notifications/channel/{channel}/test/",
    "/admin/notifications/channel/{channel}/delete/",
    "/admin/notifications/rule/",
    "/admin/notifications/rule/add/",
    "/admin/notifications/rule/{rule}/change/",
    "/admin/notifications/rule/{rule}/preview/",
    "/admin/notifications/event/",
    "/admin/notifications/event/{event}/change/",
    "/admin/notifications/delivery/?status__exact=failed&event__event_type=session.started",
    "/admin/notifications/delivery/{delivery}/change/",
    "/admin/notifications/delivery/{delivery}/retry/",
    "/admin/core/auditentry/?object_type=notification_provider",
    "/admin/core/auditentry/{entry}/change/",
    "/admin/core/apitoken/",
]
READ_ONLY = [
    "/notification-providers/{provider}/delete/",
    "/admin/notifications/event/add/",
    "/admin/notifications/delivery/add/",
    "/admin/notifications/delivery/{delivery}/delete/",
    "/admin/core/auditentry/add/",
    "/admin/core/auditentry/{entry}/delete/",
]


def test_every_page_opens_for_a_superuser(admin_client, objects):
    for path in OPEN:
        response = admin_client.get(path.format(**objects))
        assert response.status_code == 200, path


def test_nobody_adds_or_deletes_what_the_pipeline_writes(admin_client, objects):
    for path in READ_ONLY:
        assert admin_client.get(path.format(**objects)).status_code == 403, path


def test_the_usual_admin_address_of_the_provider_pages_leads_to_notification_providers(admin_client, objects):
    response = admin_client.get(f"/admin/providers/notificationprovider/{objects['provider']}/change/?x=1")
    assert response.status_code == 302
    assert response["Location"] == f"/notification-providers/{objects['provider']}/change/?x=1"


def test_anonymous_people_are_sent_to_the_login_page(client):
    response = client.get("/notification-providers/")
    assert response.status_code == 302 and response["Location"] == "/admin/login/?next=/notification-providers/"
