import factory

from providers.models import NotificationProvider

SMTP_CONFIG = {
    "relay": "smtp.example.com",
    "port": 587,
    "insecure": False,
    "admin_panel_url": "https://admin.example.com",
    "from_email": "no-reply@example.com",
    "from_name": "Notifications",
}


class SmtpProviderFactory(factory.django.DjangoModelFactory):
    """An SMTP provider row written directly, bypassing the services (and their permission checks)."""

    class Meta:
        model = NotificationProvider

    name = "Primary SMTP"
    provider = "smtp"
    config = factory.LazyFunction(lambda: dict(SMTP_CONFIG))
    secrets = factory.LazyFunction(lambda: {"username": "smtp-user", "password": "smtp-pass-1"})
