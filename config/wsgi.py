import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

from core.telemetry import configure_tracing

# Before the handler loads its middleware, so the Django instrumentation sees every request.
configure_tracing()
application = get_wsgi_application()

# Once per web process, after Django is set up: key rotation, then the SMTP provider status.
from providers.startup import notification_startup  # noqa: E402

notification_startup(component="web")

# What start-up loaded stays out of the cyclic collector's reach, so that a full collection does
# not stall requests walking it again (see config/celery.py, freeze_startup_objects).
gc.freeze()
