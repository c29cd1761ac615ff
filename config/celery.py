import gc
import os
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("notification_service")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def keep_database_connections_fresh(task: Any = None, **kwargs: object) -> None:
    """Before and after each task, drops a database connection that is broken or past CONN_MAX_AGE.

    What Django does around each request. With CELERY_DB_REUSE_MAX set, Celery no longer closes the
    connection around every task; CONN_HEALTH_CHECKS then tests a kept connection before its first use
    in the next task, so one killed while the worker was idle is replaced instead of failing that task.
    """
    if task is not None and getattr(task.request, "is_eager", False):
        return  # in the caller's process and maybe inside its transaction: not ours to close
    from django.db import close_old_connections

    close_old_connections()


def relax_commit_durability(sender: Any, connection: Any, **kwargs: object) -> None:
    """A worker's own commits (claims, attempt records, sweeps) do not wait for the WAL flush.

    Losing the last of them in a PostgreSQL crash can only repeat a send: the claim or the record
    rolls back to `pending` or `sending`, and the delivery goes out again (at least once). The
    events and deliveries themselves are committed durably by `emit()`, in the producer's process.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")


@signals.worker_ready.connect
@signals.worker_process_init.connect
def freeze_startup_objects(**kwargs: object) -> None:
    """Puts what start-up loaded (Django, Celery, the app's modules and settings) out of the cyclic
    collector's reach, in the worker and in each pool child.

    Otherwise every full collection walks those hundreds of thousands of objects again: 40 to 90 ms
    in which a worker sends nothing, measured as the worst event-to-delivered latencies. After the
    freeze a full collection walks only what the tasks allocated. (`gc.freeze`, as the gc docs
    advise for long-lived processes.)
    """
    gc.freeze()


@signals.celeryd_init.connect
def notification_startup(**kwargs: object) -> None:
    # Sent once by the worker program's main process before the pool forks (worker_process_init
    # would run in every child), and not by embedded test workers. Django is set up by then.
    from django.db.backends.signals import connection_created

    from providers.startup import worker_startup

    connection_created.connect(relax_commit_durability, dispatch_uid="relax_commit_durability")
    worker_startup()
