"""What every web and worker process does once when it starts: key rotation, then SMTP provider status.

Called from config/wsgi.py (each web process) and from the Celery worker program's `celeryd_init`
signal (config/celery.py), never on import, so `manage.py migrate` and the tests do not run it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connections
from opentelemetry.trace import Status, StatusCode

from core.telemetry import configure_tracing, tracer
from providers.kinds import SMTP
from providers.models import NotificationProvider
from providers.rotation import encryption_keys_rotate

logger = logging.getLogger(__name__)

STATUS_MESSAGE = "SMTP notification provider status at startup"


@dataclass(frozen=True)
class StartupStatus:
    database_ready: bool
    smtp_provider_id: uuid.UUID | None
    reencrypted: int = 0

    @property
    def smtp_provider_configured(self) -> bool:
        return self.smtp_provider_id is not None


def _rotate_and_check() -> StartupStatus:
    rotation = encryption_keys_rotate()
    if rotation.reencrypted:
        logger.info(
            "Re-encrypted stored secrets under the active encryption key",
            extra={"reencrypted": rotation.reencrypted_count},
        )
    # Only the id: the provider's secrets need not be decryptable to report that it exists.
    provider_id = NotificationProvider.objects.filter(provider=SMTP.key).values_list("id", flat=True).first()
    return StartupStatus(database_ready=True, smtp_provider_id=provider_id, reencrypted=rotation.reencrypted_count)


def notification_startup(*, component: str) -> StartupStatus:
    """Rotates keys, then records the `notification.init` span and one status log line.

    A database that is unreachable or not migrated yet is reported, not raised: the process still
    starts, and the next start retries.
    """
    configure_tracing()
    try:
        status = _rotate_and_check()
        error: DatabaseError | None = None
    except DatabaseError as exc:
        status, error = StartupStatus(database_ready=False, smtp_provider_id=None), exc
        logger.warning(
            "Notification start-up skipped key rotation and the SMTP provider check: the database is "
            "not migrated yet or unreachable (run `python manage.py migrate`)",
            extra={"component": component, "error": next(iter(str(exc).strip().splitlines()), "")},
        )
    with tracer().start_as_current_span("notification.init") as span:
        span.set_attribute("smtp_provider_configured", status.smtp_provider_configured)
        if status.smtp_provider_id is not None:
            span.set_attribute("smtp_provider_id", str(status.smtp_provider_id))
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    facts: dict[str, Any] = {"component": component, "smtp_provider_configured": status.smtp_provider_configured}
    if status.smtp_provider_id is not None:
        facts["smtp_provider_id"] = str(status.smtp_provider_id)
    if not status.database_ready:
        facts["database_ready"] = False
    logger.info(STATUS_MESSAGE, extra=facts)
    return status


def worker_startup() -> None:
    """The worker's start-up, in its main process before the pool forks.

    Its database connection is closed afterwards so that no pool child inherits the socket.
    """
    try:
        notification_startup(component="worker")
    finally:
        connections.close_all()
