import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from notifications.models import Channel, Event, Rule


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests-1")

    @factory.post_generation
    def groups(self, create, extracted, **kwargs):
        for name in extracted or []:
            self.groups.add(Group.objects.get(name=name))


class WebhookChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    name = factory.Sequence(lambda n: f"webhook-{n}")
    channel_type = "webhook"
    config = factory.LazyFunction(
        lambda: {"url": "https://hooks.example.com/in", "method": "POST", "timeout": 5.0, "success_status_codes": []}
    )
    secrets = factory.LazyFunction(dict)


class EmailChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    name = factory.Sequence(lambda n: f"email-{n}")
    channel_type = "email"
    config = factory.LazyFunction(
        lambda: {
            "message": {"from_email": "", "to_emails": ["ops@example.com"], "subject_template": "{{ event_type }}"},
            "smtp": None,
            "auth": None,
        }
    )
    secrets = factory.LazyFunction(dict)


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rule

    name = factory.Sequence(lambda n: f"rule-{n}")
    event_type = "session.started"
    channel = factory.SubFactory(WebhookChannelFactory)
    message_template = "Session {{ session_id }} is {{ status }}"


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    event_type = "notification.test"
    payload = factory.LazyFunction(lambda: {"message": "hello"})
    occurred_at = factory.Faker("date_time", tzinfo=__import__("datetime").UTC)
