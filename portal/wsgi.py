import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.base")

application = get_wsgi_application()

# Refuse to serve behind a PgBouncer whose pool mode is not DATABASE_POOL_MODE.
from portal.db import pool_mode_verify  # noqa: E402 - needs the settings loaded above

pool_mode_verify()
