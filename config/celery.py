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


@signals.celeryd_init.connect
def notification_startup(**kwargs: object) -> None:
    # Sent once by the worker program's main process before the pool forks (worker_process_init
    # would run in every child), and not by embedded test workers. Django is set up by then.
    from providers.startup import worker_startup

    worker_startup()
