"""Settings read from the environment, with embedded defaults that need no server.

Every variable is listed in README.md. Without DATABASE_URL the service uses a SQLite
file, and without CELERY_BROKER_URL a filesystem broker, both under DATA_DIR.
"""

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var")))
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _persistent_secret_key() -> str:
    """A key generated once per data directory, so a bare `make run` is not on a public default."""
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY") or _persistent_secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "core.admin_site.NotificationAdminConfig",  # django.contrib.admin with our site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "graphene_django",
    "core",
    "providers",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the file: WAL and immediate transactions avoid "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns at every start when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # Appends a record's `extra` facts as key=value, e.g. the SMTP provider status at start-up.
        "plain": {"()": "core.logfmt.KeyValueFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so that its WWW-Authenticate challenge turns "not authenticated" into 401, not 403.
        "core.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "core.api.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
API_PAGE_SIZE = env_int("API_PAGE_SIZE", 50)
API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", 500)
SPECTACULAR_SETTINGS = {
    "TITLE": "Notification service API",
    "DESCRIPTION": (
        "Channels, rules, the SMTP provider, events and deliveries. Authenticate with a session (and its "
        "CSRF token) or `Authorization: Bearer <token>`; every error body is `{code, message, fields?}`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SCHEMA_PATH_PREFIX": r"/api/v1/notifications/",
    "COMPONENT_SPLIT_REQUEST": True,
    # Enums stay inline: the per-type variants of channels and providers each have a one-value enum
    # for their discriminator, which the default enum-extraction hook cannot name without clashes.
    "POSTPROCESSING_HOOKS": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- GraphQL (/graphql/) --------------------------------------------------------------------
GRAPHENE = {
    "SCHEMA": "config.schema.schema",
    "SCHEMA_OUTPUT": "schema.graphql",
    # The largest page of a connection, and its size when neither `first` nor `last` is given.
    "RELAY_CONNECTION_MAX_LIMIT": env_int("GRAPHQL_MAX_PAGE_SIZE", 100),
    "MIDDLEWARE": [],
}
GRAPHQL_MAX_DEPTH = env_int("GRAPHQL_MAX_DEPTH", 10)
GRAPHQL_MAX_ALIASES = env_int("GRAPHQL_MAX_ALIASES", 20)
# A document with more lexical tokens is refused before it is validated (validation cost grows with size).
GRAPHQL_MAX_TOKENS = env_int("GRAPHQL_MAX_TOKENS", 5000)

# --- Celery -------------------------------------------------------------------------------
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        "control_folder": str(BROKER_DIR / "control"),
    }
else:
    # A claimed-but-unacknowledged task comes back after this long (acks_late).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# A task drains its channel for up to two seconds: one reserved ahead would wait that long while
# another worker idles, so each worker process reserves only the task it runs.
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 1)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# --- Abuse limits (docs/RELIABILITY.md, "Threat model") --------------------------------------
# A request body larger than this is refused with 413 PAYLOAD_TOO_LARGE (REST and GraphQL).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024)
# JSON bodies (REST and GraphQL) nested deeper than this are refused with PARSE_ERROR.
API_MAX_JSON_DEPTH = env_int("API_MAX_JSON_DEPTH", 32)
# Channel validation, rule validation with `send` and the provider test connect to a host the caller
# chose: each user may run this many of them per window (0 switches the limit off).
NOTIFICATION_TEST_SEND_LIMIT = env_int("NOTIFICATION_TEST_SEND_LIMIT", 10)
NOTIFICATION_TEST_SEND_WINDOW_SECONDS = env_int("NOTIFICATION_TEST_SEND_WINDOW_SECONDS", 60)
# Where the counters live: this Redis, else the broker's when it is Redis, else the database.
RATE_LIMIT_REDIS_URL = env_str("RATE_LIMIT_REDIS_URL") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
)
# Unset, Celery's Django fix-up closes the database connection around every task (a new PostgreSQL
# connection per delivery, CONN_MAX_AGE ignored). Set, it closes them every this many tasks, and
# config/celery.py applies Django's own rules around each task instead (CONN_MAX_AGE, health checks).
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)

# --- Secrets at rest ------------------------------------------------------------------------
# Fernet keys (urlsafe base64 of 32 bytes). The first encrypts; deprecated ones only decrypt until
# `manage.py notification rotate-keys` (run at every start) re-encrypts under the active key.
NOTIFICATION_ENCRYPTION_KEY = env_str("NOTIFICATION_ENCRYPTION_KEY")
NOTIFICATION_ENCRYPTION_DEPRECATED_KEYS = env_list("NOTIFICATION_ENCRYPTION_DEPRECATED_KEYS")

# --- Delivery -------------------------------------------------------------------------------
NOTIFICATION_MAX_ATTEMPTS = env_int("NOTIFICATION_MAX_ATTEMPTS", 5)
NOTIFICATION_RETRY_BASE_SECONDS = float(env_str("NOTIFICATION_RETRY_BASE_SECONDS", "5"))
NOTIFICATION_RETRY_MAX_SECONDS = float(env_str("NOTIFICATION_RETRY_MAX_SECONDS", "1800"))
# Share of each backoff step that is random: 1 is full jitter, 0 a fixed exponential ladder.
NOTIFICATION_RETRY_JITTER = float(env_str("NOTIFICATION_RETRY_JITTER", "1"))
# A retry waits in a worker as an unacknowledged ETA message; past the visibility timeout Redis would
# hand it to a second worker as well. The longest wait (a server's Retry-After included) stays below.
if CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", float("inf")) <= NOTIFICATION_RETRY_MAX_SECONDS:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "NOTIFICATION_RETRY_MAX_SECONDS must be below the broker's visibility timeout (CELERY_VISIBILITY_TIMEOUT)."
    )
NOTIFICATION_SWEEP_INTERVAL_SECONDS = env_int("NOTIFICATION_SWEEP_INTERVAL_SECONDS", 60)
# A worker that claims a delivery takes up to this many pending deliveries of its channel with it,
# sending them on one connection with one claim and one record (1: one at a time).
NOTIFICATION_DELIVERY_BATCH_SIZE = env_int("NOTIFICATION_DELIVERY_BATCH_SIZE", 20)
NOTIFICATION_SWEEP_AGE_SECONDS = env_int("NOTIFICATION_SWEEP_AGE_SECONDS", 300)
CELERY_BEAT_SCHEDULE = {
    # Re-enqueues deliveries whose task was lost (see notifications.delivery.delivery_sweep).
    "notification-delivery-sweep": {
        "task": "notifications.sweep_deliveries",
        "schedule": float(NOTIFICATION_SWEEP_INTERVAL_SECONDS),
    },
}
NOTIFICATION_SENDER_CACHE_TTL_SECONDS = env_int("NOTIFICATION_SENDER_CACHE_TTL_SECONDS", 30)
# A pooled SMTP connection idle longer than this is closed rather than reused: relays drop idle
# clients after a while (Postfix after 300 s), and a dropped one costs a failed try first.
NOTIFICATION_SMTP_POOL_IDLE_SECONDS = float(env_str("NOTIFICATION_SMTP_POOL_IDLE_SECONDS", "30"))
NOTIFICATION_SMTP_CA_BUNDLE = env_str("NOTIFICATION_SMTP_CA_BUNDLE") or None
NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS = env_list("NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS")
# The same guard for the SMTP server of an email channel's own `smtp` block (which a channel writer
# chooses); the runtime provider's relay is the operator's and may be internal.
NOTIFICATION_SMTP_ALLOWED_NETWORKS = env_list("NOTIFICATION_SMTP_ALLOWED_NETWORKS")
NOTIFICATION_WEBHOOK_MAX_REDIRECTS = env_int("NOTIFICATION_WEBHOOK_MAX_REDIRECTS", 3)
NOTIFICATION_TEMPLATE_MAX_BYTES = 64 * 1024
NOTIFICATION_RENDER_MAX_CHARS = env_int("NOTIFICATION_RENDER_MAX_CHARS", 256 * 1024)
# One render (or condition) may take this many steps (loop iterations, calls, filters) and seconds.
NOTIFICATION_RENDER_MAX_STEPS = env_int("NOTIFICATION_RENDER_MAX_STEPS", 100_000)
NOTIFICATION_RENDER_MAX_SECONDS = float(env_str("NOTIFICATION_RENDER_MAX_SECONDS", "2"))
# Host applications add event types here as dotted paths to EventType objects.
NOTIFICATION_EVENT_TYPES = env_list("NOTIFICATION_EVENT_TYPES")

# --- OpenTelemetry --------------------------------------------------------------------------
OTEL_TRACES_EXPORTER = env_str("OTEL_TRACES_EXPORTER", "none").lower()
OTEL_SERVICE_NAME = env_str("OTEL_SERVICE_NAME", "notification-service")
