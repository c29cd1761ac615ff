import uuid

from django.db import models

from core.crypto import SecretJSONField


class NotificationProvider(models.Model):
    """A runtime-configured instance of a code-known provider kind; one row per kind.

    `config` holds the kind's public settings; `secrets` (encrypted) the credentials.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=256)
    provider = models.CharField(max_length=32)
    config = models.JSONField(default=dict)
    secrets = SecretJSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider"]
        constraints = [models.UniqueConstraint(fields=["provider"], name="one_provider_per_kind")]
        permissions = [("test_notificationprovider", "Can test a notification provider")]

    def __str__(self) -> str:
        return f"{self.name} ({self.provider})"

    def __repr__(self) -> str:
        return f"<NotificationProvider {self.id} {self.provider} {self.name!r}>"
