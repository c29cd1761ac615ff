"""DRF authentication with per-user API tokens: `Authorization: Bearer <token>`.

Listed first in DEFAULT_AUTHENTICATION_CLASSES (before DRF's CSRF-checking SessionAuthentication),
its `authenticate_header` makes DRF answer an unauthenticated request with 401 and a
`WWW-Authenticate: Bearer` challenge rather than 403.
"""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from core.tokens import user_for_bearer_token

BEARER_CHALLENGE = 'Bearer realm="api"'


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: expected 'Bearer <token>'.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        user = user_for_bearer_token(raw)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        return user, None

    def authenticate_header(self, request: Request) -> str:
        return BEARER_CHALLENGE
