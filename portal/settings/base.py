"""The one settings module. Every environment (development, CI, production) differs only by
environment variables; they are listed in README.md and deploy/env.example."""

from __future__ import annotations

from pathlib import Path

from celery.schedules import crontab

from portal.env import (
    env_bool,
    env_choice,
    env_database,
    env_float,
    env_int,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = env_bool("DEBUG", False)
# Empty is allowed so that tooling (makemigrations, ruff hooks) runs without secrets; the deploy
# check `portal.E001` reports an empty key, and Django refuses to sign with one.
SECRET_KEY = env_str("SECRET_KEY", "")

# Host routing: <slug>.<PORTAL_DOMAIN> is a client's portal, PORTAL_DOMAIN the public/staff site.
PORTAL_DOMAIN = env_str("PORTAL_DOMAIN", "localhost").lower()
# How long a process keeps a host → client look-up (tenants/middleware.py); 0 turns it off.
TENANT_HOST_CACHE_SECONDS = env_int("TENANT_HOST_CACHE_SECONDS", 5, minimum=0)
ALLOWED_HOSTS = [PORTAL_DOMAIN, f".{PORTAL_DOMAIN}", *env_list("EXTRA_ALLOWED_HOSTS")]
CSRF_TRUSTED_ORIGINS = env_list(
    "CSRF_TRUSTED_ORIGINS", [f"https://{PORTAL_DOMAIN}", f"https://*.{PORTAL_DOMAIN}"]
)

SHARED_APPS = [
    "django_tenants",
    "portal",
    "tenants",
    "portal.audit",
    "portal.meta",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "axes",  # login throttling (production hardening); its tables live in the public schema
    "csp",
    # Also a tenant app: the public schema's e-mails (staff notices) use the same outbox.
    "integrations",
]
TENANT_APPS = [
    "compliance",
    "templates_review",
    "appeals",
    "integrations",  # outbound webhooks and the e-mail outbox, in the schema of their events
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Client"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_URLCONF = "portal.urls_public"
ROOT_URLCONF = "portal.urls_tenant"
# New clients are cloned from this schema (a tenant row of its own, so `migrate` keeps it
# current) and their migrations faked: provisioning takes a fraction of a second.
TENANT_BASE_SCHEMA = "tenant_template"
TENANT_CREATION_FAKES_MIGRATIONS = True
SHOW_PUBLIC_IF_NO_TENANT_FOUND = False
# `migrate_schemas --executor=multiprocessing` (deploy/README.md, "Scale"): processes migrating
# client schemas at once, and schemas handed to a process at a time.
TENANT_MULTIPROCESSING_MAX_PROCESSES = env_int("TENANT_MIGRATION_PROCESSES", 2, minimum=1)
TENANT_MULTIPROCESSING_CHUNKS = env_int("TENANT_MIGRATION_CHUNKS", 50, minimum=1)
# Set search_path once per request, not before every query.
TENANT_LIMIT_SET_CALLS = True

MIDDLEWARE = [
    # First: probes reach /healthz and /readyz by pod IP, before host routing and HTTPS redirect.
    "portal.health.HealthCheckMiddleware",
    "portal.observability.RequestIdMiddleware",
    # A database error anywhere below answers 503 with Retry-After, never a 500 (portal/outage.py).
    "portal.outage.DatabaseOutageMiddleware",
    # Meta's POSTs: straight to the webhook view (portal/meta/middleware.py says why).
    "portal.meta.middleware.WebhookIntakeMiddleware",
    "tenants.middleware.PortalTenantMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "tenants.middleware.TenantAccessMiddleware",
    # Last, as django-axes requires: turns a locked-out login into a 429.
    "axes.middleware.AxesMiddleware",
]

# Django's form renderer, with the plain widgets (inputs, textarea, select, radio and checkbox
# lists) written in Python rather than through a template each: the same markup, a fraction of
# the time (portal/forms_renderer.py).
FORM_RENDERER = "portal.forms_renderer.QuickRenderer"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.portal",
            ],
            # The `date` filter in strftime for the portal's numeric formats (same output).
            "builtins": ["portal.template_dates", "portal.template_urls"],
        },
    },
]

WSGI_APPLICATION = "portal.wsgi.application"

_database = env_database("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bsp_portal")
DATABASES = {
    "default": {
        **_database,
        "ENGINE": "django_tenants.postgresql_backend",
        # Persistent connections are safe under WSGI (see architecture: ASGI leaked them).
        "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60, minimum=0),
        "CONN_HEALTH_CHECKS": True,
    }
}
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
# PgBouncer (deploy/README.md, "PgBouncer"): the pool mode in front of DATABASE_URL, checked at
# start-up against what PgBouncer reports (portal.db.pool_mode_verify). `transaction` makes every
# transaction set its own search_path (portal/postgresql_backend), with server-side cursors and
# prepared statements off. The admin console URL defaults to DATABASE_URL's server, db pgbouncer.
DATABASE_POOL_MODE = env_choice("DATABASE_POOL_MODE", "none", {"none", "session", "transaction"})
DATABASE_POOL_ADMIN_URL = env_str("DATABASE_POOL_ADMIN_URL", "")
DATABASES["default"]["ENGINE"] = "portal.postgresql_backend"
DATABASES["default"]["POOL_MODE"] = DATABASE_POOL_MODE
if DATABASE_POOL_MODE == "transaction":
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None
# The read replica (portal/db.py): exports, charts, the evidence bundle and the staff queues read
# from it while its replay lag is within DATABASE_REPLICA_MAX_LAG_SECONDS; after a failed check
# the primary serves for DATABASE_REPLICA_RETRY_SECONDS before the replica is tried again.
DATABASE_REPLICA_MAX_LAG_SECONDS = env_float("DATABASE_REPLICA_MAX_LAG_SECONDS", 10.0, minimum=0)
DATABASE_REPLICA_RETRY_SECONDS = env_float("DATABASE_REPLICA_RETRY_SECONDS", 30.0, minimum=0)
if env_str("DATABASE_REPLICA_URL", ""):
    _replica = env_database("DATABASE_REPLICA_URL", "")
    DATABASES["replica"] = {
        **_replica,
        "OPTIONS": {"connect_timeout": "2", **_replica["OPTIONS"]},
        "ENGINE": "portal.postgresql_backend",
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": True,
        # The test runner never creates a database on it; tests/portal/test_replica_router.py
        # points it at the replica's copy of the test database.
        "TEST": {"MIRROR": "default"},
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache key carries the schema so one client's cached data can never reach another.
_cache_url = env_str("CACHE_URL", "")
CACHES = {
    "default": {
        "BACKEND": (
            "django.core.cache.backends.redis.RedisCache"
            if _cache_url
            else "django.core.cache.backends.locmem.LocMemCache"
        ),
        "LOCATION": _cache_url or "portal",
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
    }
}

AUTH_USER_MODEL = "tenants.User"
AUTHENTICATION_BACKENDS = [
    # Refuses a login while its e-mail + address is locked out (see Production hardening).
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Cookies stay host-only (no SESSION_COOKIE_DOMAIN): a session on acme.<domain> is never sent to
# globex.<domain>. One login reaches other tenants through a signed, single-use hand-off.
SESSION_COOKIE_DOMAIN = None
CSRF_COOKIE_DOMAIN = None
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_COOKIES = env_bool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 60 * 60 * 12, minimum=300)
TENANT_HANDOFF_MAX_AGE = 60  # seconds a cross-host login hand-off link stays valid

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG and env_bool("STATIC_MANIFEST", True)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", DEBUG)
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / ".devdata" / "media")))

EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", f"portal@{PORTAL_DOMAIN}")

# --- Meta (WhatsApp Business Platform) ---------------------------------------------------
# Graph API base URL and version; tests, benchmarks and `make run` point it at the simulator.
META_GRAPH_URL = env_str("META_GRAPH_URL", "https://graph.facebook.com").rstrip("/")
META_API_VERSION = env_str("META_API_VERSION", "v24.0")
META_HTTP_TIMEOUT = env_float("META_HTTP_TIMEOUT", 10.0, minimum=0.1)
META_MAX_RETRIES = env_int("META_MAX_RETRIES", 5, minimum=0)
# Longest wait the client accepts inside one call before raising MetaRateLimited to its caller.
META_MAX_BACKOFF_SECONDS = env_float("META_MAX_BACKOFF_SECONDS", 30.0, minimum=0)
# Graph calls one client (one sync task) has under way at once; one while Meta's usage header
# reads a WABA past 75 % of a limit.
META_MAX_IN_FLIGHT = env_int("META_MAX_IN_FLIGHT", 4, minimum=1)
# Webhook verification: the app secret(s) signing X-Hub-Signature-256 (comma-separated for
# rotation) and the verify token of the GET handshake. Stored encrypted once set in the admin.
META_APP_SECRET = env_str("META_APP_SECRET", "")
# The Meta app's id: Resumable Upload sessions (template header examples) are opened on it.
META_APP_ID = env_str("META_APP_ID", "")
META_VERIFY_TOKEN = env_str("META_VERIFY_TOKEN", "")
# The BSP's system-user token, until one is stored (encrypted) through the admin.
META_SYSTEM_USER_TOKEN = env_str("META_SYSTEM_USER_TOKEN", "")
# Key for Meta credentials at rest (Fernet, urlsafe base64 of 32 bytes), separate from SECRET_KEY.
META_CREDENTIALS_KEY = env_str("META_CREDENTIALS_KEY", "")
# Minutes between fleet syncs, and seconds after which an unprocessed webhook is swept up.
META_SYNC_MINUTES = env_int("META_SYNC_MINUTES", 15, minimum=1)
META_WEBHOOK_SWEEP_AFTER_SECONDS = env_int("META_WEBHOOK_SWEEP_AFTER_SECONDS", 30, minimum=5)
# How long a worker holds the webhook changes it claimed: a worker that died holding them gives
# them up after this long (a batch takes well under a second).
META_WEBHOOK_LEASE_SECONDS = env_int("META_WEBHOOK_LEASE_SECONDS", 60, minimum=5)
# Drain runs queued or running at once for the intake's wake-ups (meta.DrainSlot): at most this
# many messages wait on the broker however long a burst lasts. More runs work more clients at
# once (each claims whole clients); size it to the worker processes that may drain.
META_WEBHOOK_DRAIN_RUNS = env_int("META_WEBHOOK_DRAIN_RUNS", 4, minimum=1, maximum=32)

# --- Outbound webhooks and e-mail (integrations/) ---------------------------------------------
# Receivers on loopback or private addresses are refused unless this is set (tests, demo).
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env_bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False)
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 5.0, minimum=0.1)
# A delivery is retried (exponential backoff with jitter) for this long, and an endpoint failing
# for this long is disabled and its owners told.
WEBHOOK_RETRY_HOURS = env_float("WEBHOOK_RETRY_HOURS", 72.0, minimum=0.01)
WEBHOOK_SECRET_OVERLAP_HOURS = env_float("WEBHOOK_SECRET_OVERLAP_HOURS", 24.0, minimum=0)
# Deliveries one send task sends at once: lanes (a thread and a kept-alive connection each)
# shared among the batch's receivers, so a slow receiver holds up only its own lanes.
WEBHOOK_SEND_CONCURRENCY = env_int("WEBHOOK_SEND_CONCURRENCY", 16, minimum=1)

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = env_str(
    "CELERY_RESULT_BACKEND",
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis", "rediss")) else "rpc://",
)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "portal")
# A killed worker must not lose a task: acknowledge after running (tasks are idempotent).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 60 * 60 * 24
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_TENANT_CACHE_SECONDS = 30
# --- Celery: redelivery after a worker dies (issue 19; deploy/README.md "Redelivery") --------
# A pool process that dies: its task is rejected and requeued at once (reject_on_worker_lost).
# A whole worker that dies: RabbitMQ requeues its unacked messages when its connection drops
# (heartbeats find a vanished host); Redis puts them back once they are older than the
# visibility timeout, found by a sweep every CELERY_UNACKED_RESTORE_SECONDS. A live worker
# renews the messages it holds (portal.celery.RedisLeaseRenewal), so the timeout need not
# exceed the longest task: a dead worker's tasks run again within about 90 + 10 seconds.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 90, minimum=3)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_SECONDS", 10, minimum=1),
    "unacked_restore_throttle": 1,  # sweep on every interval, not every 10th
}
CELERY_BROKER_HEARTBEAT = env_int("CELERY_BROKER_HEARTBEAT", 10, minimum=0)
# Celery's Django fixup closes every database connection before and after each task unless told
# to reuse it; a new PostgreSQL connection per task (connect, then cold catalog caches) cost a
# sync task more than its own queries. It may now keep one for this many tasks, and
# portal.celery closes it as Django closes a request's: past DB_CONN_MAX_AGE, or when unusable.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000, minimum=0)
# Consent imports may go to a queue of their own (long jobs kept apart from webhook work).
CONSENT_IMPORT_QUEUE = env_str("CONSENT_IMPORT_QUEUE", "")
TENANT_HOUSEKEEPING_MINUTES = env_int("TENANT_HOUSEKEEPING_MINUTES", 60, minimum=1)
# The beat schedule lives in code. Fan-out tasks enqueue one tenant task per active client.
CELERY_BEAT_SCHEDULE = {
    "tenant-housekeeping": {
        "task": "tenants.tasks.fan_out_tenant_housekeeping",
        "schedule": TENANT_HOUSEKEEPING_MINUTES * 60,
    },
    "meta-webhook-sweeper": {
        "task": "portal.meta.tasks.webhook_sweep",
        "schedule": 30,
    },
    "consent-import-sweeper": {
        "task": "compliance.tasks.consent_import_sweep",
        "schedule": 60,
    },
    "meta-fleet-sync": {
        "task": "compliance.tasks.fan_out_sync",
        "schedule": META_SYNC_MINUTES * 60,
    },
    "notification-digests": {
        "task": "tenants.tasks.notification_digests_send",
        "schedule": crontab(minute=0, hour=env_int("NOTIFICATION_DIGEST_HOUR", 7, minimum=0)),
    },
    "audit-retention": {
        "task": "portal.audit.tasks.audit_purge_expired",
        "schedule": crontab(minute=17, hour=3),
    },
}
CELERY_BEAT_SCHEDULE["outbox-sweeper"] = {
    "task": "integrations.tasks.fan_out_outbox_sweep",
    "schedule": 30,
}
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 730, minimum=30)

# --- API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.api.permissions.IsTenantMember"],
    "DEFAULT_FILTER_BACKENDS": ["portal.api.filters.StrictFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "portal.api.schema.ProblemAutoSchema",
    # API keys get JSON only (tenants/api/negotiation.py).
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "tenants.api.negotiation.KeysGetJson",
    "EXCEPTION_HANDLER": "portal.api.errors.problem_details_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "BSP portal API",
    "DESCRIPTION": "Tenant-scoped REST API. Authenticate with `Authorization: Bearer <api key>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request bodies get their own components, so required non-blank strings say minLength 1.
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from our static files, not a CDN (the CSP allows our own origin only).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ClientStatusEnum": "tenants.choices.ClientStatus",
        "NumberStatusEnum": "compliance.choices.NUMBER_STATUS_CHOICES",
        "WebhookEndpointStateEnum": "integrations.choices.EndpointState",
        "WebhookDeliveryStateEnum": "integrations.choices.DeliveryState",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # httpx logs every request at INFO; the Graph client logs its retries and errors itself.
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# --- Production hardening -------------------------------------------------------------------
# The defaults are the production values; `make run` (DEBUG=true) and the test settings turn the
# HTTPS-only parts off. `manage.py check --deploy` is clean with deploy/env.example's values
# (tests/deploy/test_check_deploy.py). Every variable is in deploy/env.example.

# TLS ends at the ingress / load balancer, which sets X-Forwarded-Proto. Trust that header only
# when the proxy in front always overwrites it; a client talking to gunicorn directly could claim
# HTTPS with it. With it, SECURE_SSL_REDIRECT redirects plain-HTTP requests that reached us.
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Proxies in front of gunicorn whose X-Forwarded-For entry we trust (login throttling per IP).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", SECURE_COOKIES)
# HSTS covers subdomains by default: every client is a subdomain of PORTAL_DOMAIN.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if not SECURE_HSTS_PRELOAD:
    # W021 asks for HSTS preloading. Preloading is the operator's decision for the registrable
    # domain as a whole (it binds every subdomain, not only the portal's, and takes months to
    # undo), so it is off unless SECURE_HSTS_PRELOAD=true; the warning would otherwise be noise.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]

# Content Security Policy (django-csp): our own origin only, no inline scripts or styles. htmx is
# served from our static files and told not to inject its indicator <style> (base.html's
# htmx-config meta; the indicator CSS is in portal.css). A form may post to the portal's own
# hosts: signing in on the public host ends on the client's host through the hand-off redirect.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'", f"{PORTAL_DOMAIN}:*", f"*.{PORTAL_DOMAIN}:*"],
    }
}
if env_str("CSP_REPORT_URI", ""):
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["report-uri"] = [env_str("CSP_REPORT_URI", "")]

# Login throttling (django-axes): 5 failures for one e-mail from one address lock that pair out
# for 15 minutes (429); a success resets the count. Per pair, so a stranger cannot lock a user
# out from another address. Attempts are stored in the public schema (AccessAttempt).
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The login form's field is `username` (holding the e-mail), not USERNAME_FIELD, axes' default.
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "portal.security.login_username"
AXES_CLIENT_IP_CALLABLE = "portal.security.client_ip"
# Failures are kept (AccessAttempt); a row per successful sign-in is not needed.
AXES_DISABLE_ACCESS_LOG = True

# Logs: one JSON object per line with the client's schema and the request id (plain text for
# `make run`). Celery workers log through the same configuration instead of their own.
LOG_FORMAT = env_choice("LOG_FORMAT", "plain" if DEBUG else "json", {"json", "plain"})
LOGGING["formatters"]["json"] = {"()": "portal.observability.JsonFormatter"}
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Where collectstatic writes (the image collects into /app/staticfiles at build time).
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(STATIC_ROOT)))

# Optional error reporting to Sentry or a compatible service; off unless SENTRY_DSN is set.
SENTRY_DSN = env_str("SENTRY_DSN", "")
if SENTRY_DSN:
    from portal.observability import error_reporting_init

    error_reporting_init(
        dsn=SENTRY_DSN,
        environment=env_str("SENTRY_ENVIRONMENT", "production"),
        release=env_str("SENTRY_RELEASE", ""),
        traces_sample_rate=env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0, minimum=0),
    )
# --- End of production hardening ------------------------------------------------------------

# --- Appeals (appeals/sla.py) ------------------------------------------------------------------
# Staff's SLA clocks count business time only: these hours on these days, in this time zone.
APPEALS_BUSINESS_HOURS = env_str("APPEALS_BUSINESS_HOURS", "09:00-18:00")
APPEALS_BUSINESS_DAYS = env_list("APPEALS_BUSINESS_DAYS", ["mon", "tue", "wed", "thu", "fri"])
APPEALS_TIME_ZONE = env_str("APPEALS_TIME_ZONE", "UTC")
# Targets in business hours: first staff response, and resolution (up to Meta's outcome).
APPEALS_FIRST_RESPONSE_HOURS = env_float("APPEALS_FIRST_RESPONSE_HOURS", 4.0, minimum=0.25)
APPEALS_RESOLUTION_HOURS = env_float("APPEALS_RESOLUTION_HOURS", 27.0, minimum=1)
# A clock is "due soon" (and staff are warned once) when this share of its target is used.
APPEALS_WARN_AT_PERCENT = env_int("APPEALS_WARN_AT_PERCENT", 75, minimum=1)
APPEALS_ATTACHMENT_MAX_MB = env_int("APPEALS_ATTACHMENT_MAX_MB", 10, minimum=1)
CELERY_BEAT_SCHEDULE["appeals-sla-warnings"] = {
    "task": "appeals.tasks.sla_warnings_send",
    "schedule": 300,
}
# Business portfolios' usage against their messaging limit (alerts at 80% and 100%).
CELERY_BEAT_SCHEDULE["portfolio-usage-watch"] = {
    "task": "compliance.tasks.fan_out_portfolio_usage",
    "schedule": 300,
}
