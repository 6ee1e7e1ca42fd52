"""gunicorn settings for the portal (WSGI with threads; see README: ASGI leaked connections).

Every value comes from the environment so the same image serves any size of deployment.
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# gthread: each worker process serves GUNICORN_THREADS requests at once, and each thread holds at
# most one persistent database connection (DB_CONN_MAX_AGE), and each worker's webhook waker
# thread one more while deliveries arrive (closed after a second without any). Connections per
# pod are therefore WEB_CONCURRENCY x (GUNICORN_THREADS + 1): size PostgreSQL's max_connections
# (or PgBouncer) for that.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "25"))
keepalive = 5
# What a request may be before the application sees it (gunicorn's maxima; nginx's default
# buffers are 8 KiB too). Larger ones get gunicorn's 414 / 431, documented for every operation
# of the API (portal.api.schema.SERVER_LIMITS).
limit_request_line = int(os.environ.get("GUNICORN_LIMIT_REQUEST_LINE", "8190"))
limit_request_field_size = int(os.environ.get("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", "8190"))
# Recycle workers now and then so a slow leak cannot grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = max_requests // 10
# The application writes one JSON access line per request (portal.observability); gunicorn's own
# access log would repeat it without the client's schema.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Worker heartbeat files go to /tmp: a memory-backed volume in compose and Kubernetes, where the
# rest of the file system is read-only.
