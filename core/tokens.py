"""Per-user API tokens: created, listed and revoked here; checked by REST and GraphQL authentication.

A token is ``nst_`` followed by 43 URL-safe characters (256 random bits). It is shown once, at
creation; only its SHA-256 digest and a short display prefix are stored.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from core.actors import require_permission
from core.errors import NotFound, ValidationError
from core.models import ApiToken
from core.schema import clean_name
from core.services import audit_entry_create

TOKEN_PREFIX = "nst_"  # noqa: S105  (a marker that makes tokens recognisable, not a secret)
DISPLAY_PREFIX_LENGTH = len(TOKEN_PREFIX) + 8
# last_used_at is a hint for people, not an audit trail: writing it at most once a minute keeps
# authenticated reads from turning into a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _is_self(actor: Any, user: Any) -> bool:
    return getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None) == user.pk


def _require_token_permission(actor: Any, user: Any, perm: str) -> None:
    """Everyone manages their own tokens; another user's need the model permission (superusers)."""
    require_permission(actor)
    if not _is_self(actor, user):
        require_permission(actor, perm)


@transaction.atomic
def api_token_create(*, actor: Any, user: AbstractBaseUser, name: Any) -> tuple[ApiToken, str]:
    """Returns the stored token and the raw token, which is not kept and cannot be shown again."""
    _require_token_permission(actor, user, "core.add_apitoken")
    if not user.is_active:
        raise ValidationError.for_field("user", "The user is inactive.")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        name=clean_name(name, max_length=100), user=user, token_hash=_digest(raw), prefix=raw[:DISPLAY_PREFIX_LENGTH]
    )
    audit_entry_create(
        actor=actor,
        action="api_token.create",
        object_type="api_token",
        object_id=token.pk,
        detail={"user": user.get_username(), "name": token.name},
    )
    return token, raw


def api_token_list(*, actor: Any, user: AbstractBaseUser | None = None) -> QuerySet[ApiToken]:
    """The actor's own tokens, or `user`'s; every user's for an actor that may view all tokens."""
    if user is not None:
        _require_token_permission(actor, user, "core.view_apitoken")
        return ApiToken.objects.filter(user=user).select_related("user")
    require_permission(actor)
    tokens = ApiToken.objects.select_related("user")
    if actor.has_perm("core.view_apitoken"):
        return tokens
    return tokens.filter(user_id=actor.pk)


@transaction.atomic
def api_token_revoke(*, actor: Any, token_id: Any) -> ApiToken:
    """Revokes a token at once; revoking a revoked token is a no-op that keeps the first time."""
    require_permission(actor)
    try:
        token = ApiToken.objects.select_for_update().select_related("user").get(pk=int(token_id))
    except (ValueError, TypeError, ApiToken.DoesNotExist):
        raise NotFound(f"API token {token_id} does not exist.") from None
    if not _is_self(actor, token.user) and not actor.has_perm("core.delete_apitoken"):
        # Someone else's token is as good as absent: do not confirm that it exists.
        raise NotFound(f"API token {token_id} does not exist.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_entry_create(
            actor=actor,
            action="api_token.revoke",
            object_type="api_token",
            object_id=token.pk,
            detail={"user": token.user.get_username(), "name": token.name},
        )
    return token


def user_for_bearer_token(raw: str) -> AbstractBaseUser | None:
    """The active user a live token belongs to, or None for an unknown, revoked or malformed token."""
    if not isinstance(raw, str) or not raw.startswith(TOKEN_PREFIX) or len(raw) > 256:
        return None
    try:
        token = ApiToken.objects.select_related("user").get(token_hash=_digest(raw), revoked_at__isnull=True)
    except ApiToken.DoesNotExist:
        return None
    if not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def user_by_username(username: str) -> Any:
    """For the CLI: the user named `username`, or NotFound."""
    try:
        return get_user_model().objects.get(**{get_user_model().USERNAME_FIELD: username})
    except get_user_model().DoesNotExist:
        raise NotFound(f"User {username!r} does not exist.") from None
