from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """Who did what to which object. `detail` names changed fields, never their values."""

    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.CharField(max_length=150, help_text="User name, or the name of a system actor.")
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.object_type}:{self.object_id}"


class ApiToken(models.Model):
    """A named bearer token of one user for the REST and GraphQL APIs.

    Only the SHA-256 digest of the token is stored. The token is 256 bits from `secrets`, so a fast
    unsalted hash is enough: nobody can guess or brute-force a preimage, unlike a human password, and
    a single indexed lookup by digest keeps authentication one query. `prefix` is shown to tell
    tokens apart and is useless for authenticating.
    """

    name = models.CharField(max_length=100)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=16, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"

    def __repr__(self) -> str:
        return f"<ApiToken {self.pk} {self.prefix}... user={self.user_id}>"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class RateLimitCounter(models.Model):
    """One user's count of rate-limited actions in one window (see core.ratelimit), when no Redis is set."""

    key = models.CharField(max_length=200, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"
