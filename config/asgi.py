import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

from core.telemetry import configure_tracing

configure_tracing()
application = get_asgi_application()

from providers.startup import notification_startup  # noqa: E402

notification_startup(component="web")

# What start-up loaded stays out of the cyclic collector's reach (see config/celery.py).
gc.freeze()
