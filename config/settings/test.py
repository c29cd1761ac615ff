"""Test overrides: PostgreSQL when it is reachable (required under CI=true), SQLite otherwise."""

import os
import socket

from .base import *  # noqa: F403
from .base import DATABASES, env_bool

CI = env_bool("CI", False)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


if not os.environ.get("DATABASE_URL"):
    if _reachable("127.0.0.1", 5432):
        import dj_database_url

        DATABASES = {"default": dj_database_url.parse("postgres://postgres@127.0.0.1:5432/postgres")}
    elif CI:
        raise RuntimeError("CI=true but PostgreSQL is not reachable on 127.0.0.1:5432")

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
NOTIFICATION_ENCRYPTION_KEY = "ZtlXlyOUbfDK14s-dA_ju1MtLz0M8_Qs-lbxwVJb4Bg="
NOTIFICATION_ENCRYPTION_DEPRECATED_KEYS: list[str] = []
# Test servers listen on loopback.
NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
NOTIFICATION_SMTP_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
NOTIFICATION_RETRY_BASE_SECONDS = 0.2
OTEL_TRACES_EXPORTER = "none"
# Rate-limit counters in the test database, so each test starts from zero.
RATE_LIMIT_REDIS_URL = ""
