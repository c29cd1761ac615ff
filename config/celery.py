import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("notification_service")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.celeryd_init.connect
def notification_startup(**kwargs: object) -> None:
    # Sent once by the worker program's main process before the pool forks (worker_process_init
    # would run in every child), and not by embedded test workers. Django is set up by then.
    from providers.startup import worker_startup

    worker_startup()

