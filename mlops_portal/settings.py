"""Settings for MLOps Portal, all read from the environment.

With no environment at all the portal runs on an embedded default: SQLite and a
filesystem Celery broker under ``var/``. ``DATABASE_URL=postgres://...`` and
``CELERY_BROKER_URL=redis://...`` switch to real servers with no code change.
``DJANGO_DEBUG=false`` is production: it demands a real secret key and hosts.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from mlops_portal.env import envbool, envint, envlist, envstr


def env_rate(name: str, default: str) -> str:
    return envstr(name, default)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("PORTAL_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = envbool("DJANGO_DEBUG", True)
_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
SECRET_KEY = envstr("DJANGO_SECRET_KEY", "" if not DEBUG else _DEV_SECRET_KEY)
if not DEBUG and (not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a random string of at least 50 characters when "
        "DJANGO_DEBUG is false. Generate one with: "
        "python -c 'import secrets; print(secrets.token_urlsafe(64))'"
    )
# Earlier secret keys, still accepted for verifying what they signed while it expires (Django's key rotation).
SECRET_KEY_FALLBACKS = envlist("DJANGO_SECRET_KEY_FALLBACKS")
ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must list the host names when DJANGO_DEBUG is false.")
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_celery_beat",
    "csp",
    "apps.core",
    "apps.inventory",
    "apps.risk",
    "apps.reviews",
    "apps.monitoring",
    "apps.findings",
    "apps.governance",
    "apps.integrations",
    "apps.compliance",
    "apps.notifications",
    "apps.portfolio",
    "apps.demo",  # the top layer: seeds every app below it through their services
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.core.middleware.RequestSizeLimitMiddleware",
    "apps.core.middleware.NoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
]

ROOT_URLCONF = "mlops_portal.urls"
WSGI_APPLICATION = "mlops_portal.wsgi.application"
ASGI_APPLICATION = "mlops_portal.asgi.application"

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
                "apps.core.context_processors.portal",
                "apps.notifications.context_processors.unread",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
_SQLITE_PATH = VAR_DIR / "portal.sqlite3"
_DATABASE_URL = envstr("DATABASE_URL", f"sqlite:///{_SQLITE_PATH}")
DATABASES = {
    "default": dj_database_url.parse(
        _DATABASE_URL,
        # SQLite keeps its connection: opening one re-reads the schema and runs the PRAGMAs below, about
        # 1.7 ms of every request (bench/RESULTS.md). A server database opens a connection per request
        # unless told otherwise, as Django does by default.
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", 600 if _DATABASE_URL.startswith("sqlite") else 0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock up front, so concurrent writers
    # (web, worker, beat) queue instead of failing half-way; WAL lets readers go on.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so a real celery worker subprocess sees the test data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-portal.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "login"
# Passwords first: tests' force_login and sessions made by the login form use it. It refuses passwords when
# PORTAL_LOCAL_LOGIN is false (superusers excepted while PORTAL_BREAK_GLASS_SUPERUSERS holds).
AUTHENTICATION_BACKENDS = ["apps.core.sso.PasswordBackend", "apps.core.sso.OidcBackend"]

# --- Single sign-on (OpenID Connect, through mozilla-django-oidc) ---------------------------------------
# Off unless PORTAL_OIDC_CLIENT_ID and an issuer (or the endpoints) are set. README, "Single sign-on".
PORTAL_LOCAL_LOGIN = envbool("PORTAL_LOCAL_LOGIN", True)
# With local login off, superusers still sign in with their password at /admin/login/: the way in when the
# identity provider is down or mis-configured. Every such sign-in is audited; false closes that door too.
PORTAL_BREAK_GLASS_SUPERUSERS = envbool("PORTAL_BREAK_GLASS_SUPERUSERS", True)
PORTAL_OIDC_ISSUER = envstr("PORTAL_OIDC_ISSUER").rstrip("/")
PORTAL_OIDC_PROVIDER_NAME = envstr("PORTAL_OIDC_PROVIDER_NAME", "your organisation's account")
OIDC_RP_CLIENT_ID = envstr("PORTAL_OIDC_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = envstr("PORTAL_OIDC_CLIENT_SECRET")
# Empty endpoints come from the issuer's /.well-known/openid-configuration (fetched at first use, cached).
OIDC_OP_AUTHORIZATION_ENDPOINT = envstr("PORTAL_OIDC_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = envstr("PORTAL_OIDC_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = envstr("PORTAL_OIDC_USERINFO_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = envstr("PORTAL_OIDC_JWKS_ENDPOINT")
PORTAL_OIDC_END_SESSION_ENDPOINT = envstr("PORTAL_OIDC_END_SESSION_ENDPOINT")
PORTAL_OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID and (PORTAL_OIDC_ISSUER or OIDC_OP_AUTHORIZATION_ENDPOINT))
if PORTAL_OIDC_ENABLED and not OIDC_RP_CLIENT_SECRET:
    raise ImproperlyConfigured("PORTAL_OIDC_CLIENT_ID is set but PORTAL_OIDC_CLIENT_SECRET is not: set both "
                               "(the secret the identity provider issued for the portal's client).")
if not (PORTAL_LOCAL_LOGIN or PORTAL_OIDC_ENABLED):
    raise ImproperlyConfigured("PORTAL_LOCAL_LOGIN=false needs single sign-on: set PORTAL_OIDC_CLIENT_ID, "
                               "PORTAL_OIDC_CLIENT_SECRET and PORTAL_OIDC_ISSUER, or no one can sign in.")
OIDC_RP_SIGN_ALGO = envstr("PORTAL_OIDC_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = envstr("PORTAL_OIDC_SCOPES", "openid email profile")
OIDC_USE_PKCE = True
OIDC_TIMEOUT = envint("PORTAL_OIDC_TIMEOUT_SECONDS", 10)
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc-callback"
# Kept in the session for the provider's logout (id_token_hint).
OIDC_STORE_ID_TOKEN = True
# The claim holding the person's groups, and which group grants which portal role (roles: executive,
# reviewer, data_scientist, admin). Re-applied at every sign-in; a person in no mapped group has no role.
PORTAL_OIDC_ROLE_CLAIM = envstr("PORTAL_OIDC_ROLE_CLAIM", "groups")
PORTAL_OIDC_ROLE_MAP: dict[str, list[str]] = {}
for _pair in envlist("PORTAL_OIDC_ROLE_MAP"):
    _group, _sep, _role = _pair.rpartition(":")
    if not (_sep and _group.strip() and _role.strip()):
        raise ImproperlyConfigured(f"PORTAL_OIDC_ROLE_MAP: {_pair!r} is not GROUP:ROLE, e.g. portal-execs:executive")
    PORTAL_OIDC_ROLE_MAP.setdefault(_group.strip(), []).append(_role.strip())
# The new account's username; taken names get a suffix (accounts are linked by issuer and subject, never by name).
PORTAL_OIDC_USERNAME_CLAIM = envstr("PORTAL_OIDC_USERNAME_CLAIM", "preferred_username")
# Logging out of the portal also ends the session at the provider (RP-initiated logout).
PORTAL_OIDC_LOGOUT_AT_PROVIDER = envbool("PORTAL_OIDC_LOGOUT_AT_PROVIDER", False)
# Failed single sign-on callbacks (forged, replayed, refused at the provider) from one client address before
# it must wait PORTAL_LOGIN_LOCKOUT_SECONDS. Higher than the password limit: an office behind one NAT shares it.
PORTAL_SSO_MAX_FAILURES = envint("PORTAL_SSO_MAX_FAILURES", 20)

# --- I18n -------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = envstr("PORTAL_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(envstr("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
]
_MANIFEST = envbool("PORTAL_STATIC_MANIFEST", not DEBUG)
# Uploads, their stored columnar copies, evidence files and generated documents go through Django's storage API:
# the local filesystem under PORTAL_MEDIA_ROOT by default; with PORTAL_STORAGE=s3, any S3-compatible store
# (AWS S3, MinIO, Ceph, ...), so web and worker processes on different machines need no shared disk. Credentials
# come from the environment as boto3 reads them (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or an instance role).
# The same endpoint, region and addressing style reach the data sets registered by s3:// URL (PORTAL_DATA_BUCKETS).
_S3_CLIENT = {
    "endpoint_url": envstr("PORTAL_S3_ENDPOINT_URL") or None,  # unset: AWS itself
    "region_name": envstr("PORTAL_S3_REGION") or None,
    "addressing_style": envstr("PORTAL_S3_ADDRESSING_STYLE") or None,  # "path" for most self-hosted stores
}
PORTAL_STORAGE = envstr("PORTAL_STORAGE", "filesystem").lower()
if PORTAL_STORAGE == "filesystem":
    _DEFAULT_STORAGE = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
elif PORTAL_STORAGE == "s3":
    if not envstr("PORTAL_S3_BUCKET"):
        raise ImproperlyConfigured("PORTAL_STORAGE=s3 needs PORTAL_S3_BUCKET, the bucket that keeps the files.")
    _DEFAULT_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            **_S3_CLIENT,
            "bucket_name": envstr("PORTAL_S3_BUCKET"),
            "location": envstr("PORTAL_S3_PREFIX"),  # a folder in a shared bucket
            "default_acl": None,  # private: files are served through the portal's permission checks only
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    raise ImproperlyConfigured(f"PORTAL_STORAGE must be filesystem or s3, not {PORTAL_STORAGE!r}.")
STORAGES = {
    "default": _DEFAULT_STORAGE,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if _MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(envstr("PORTAL_MEDIA_ROOT", str(VAR_DIR / "media")))

# --- Security ---------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = envbool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = envint("DJANGO_SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = envbool("DJANGO_SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = envbool("DJANGO_SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = envbool("DJANGO_CSRF_COOKIE_SECURE", True)
    # Behind a TLS-terminating proxy (docker-compose, Kubernetes ingress).
    if envbool("DJANGO_BEHIND_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # A liveness probe speaks plain HTTP from inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# No inline script anywhere: charts and htmx are driven from files under static/.
# Plotly sets style attributes on the SVG it draws, hence 'unsafe-inline' for styles only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}
if PORTAL_OIDC_LOGOUT_AT_PROVIDER:
    # The logout form's redirect goes to the provider, and form-action also governs where a form redirects.
    _end = urlsplit(PORTAL_OIDC_END_SESSION_ENDPOINT or PORTAL_OIDC_ISSUER)
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(f"{_end.scheme}://{_end.netloc}")

# --- Client addresses -------------------------------------------------------------
# How many proxies of ours stand in front of the portal, each appending to X-Forwarded-For. 0: the
# header is ignored and the client is REMOTE_ADDR (a client can write any X-Forwarded-For it likes).
PORTAL_TRUSTED_PROXY_COUNT = envint("PORTAL_TRUSTED_PROXY_COUNT", 0)

# --- REST API ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an unauthenticated call gets 401 with a WWW-Authenticate header.
        "apps.core.permissions.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.core.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.PortalPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "apps.core.api.schema.PortalAutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.errors.exception_handler",
    # Unauthenticated callers (wrong or missing tokens) are throttled hard; signed-in scripts generously.
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.core.permissions.AnonThrottle",
        "apps.core.permissions.UserThrottle",
    ],
    # The portal's throttles take the address from apps.core.client_ip; this keeps any other DRF
    # throttle on the same rule.
    "NUM_PROXIES": PORTAL_TRUSTED_PROXY_COUNT,
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_rate("PORTAL_API_ANON_RATE", "60/min"),
        "user": env_rate("PORTAL_API_USER_RATE", "3000/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MLOps Portal API",
    "DESCRIPTION": "Model inventory, risk, responsible-AI review and monitoring. "
    "Authenticate with a session or with `Authorization: Token <key>` "
    "(create one with `python manage.py create_api_token USERNAME`).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["apps.core.permissions.RolePermission"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per shared choice set, so clients get stable enum types.
    "ENUM_NAME_OVERRIDES": {
        "StageEnum": "apps.inventory.models.Stage",
        "DataSetKindEnum": "apps.inventory.models.DataSet.Kind",
        "DeploymentKindEnum": "apps.inventory.models.Deployment.Kind",
        "TierEnum": "apps.risk.models.Tier",
        "DocumentKindEnum": "apps.compliance.models.DocumentKind",
        "RatingLevelEnum": "apps.risk.models.LEVEL_CHOICES",
        # An evaluation's list and detail serializers share these; named once, they stay one enum each.
        "EvaluationStatusEnum": "apps.monitoring.models.Evaluation.Status",
        "EvaluationKindEnum": "apps.monitoring.models.Evaluation.Kind",
        # What an upload (direct or in parts) may be: the evaluation kinds a person uploads.
        "UploadKindEnum": ["validation", "production"],
        "WebhookDeliveryStatusEnum": "apps.notifications.models.WebhookDelivery.Status",
        # A governance state's status and each reason's level take the same four values.
        "GovernanceStatusEnum": "apps.inventory.governance.STATUSES",
        "GovernanceHealthEnum": "apps.inventory.governance.HEALTHS",
        "GovernanceApprovalEnum": "apps.inventory.governance.APPROVALS",
        # A control's status and its evidence's status take the same three values.
        "ComplianceStatusEnum": "apps.compliance.evaluation.STATUSES",
        # A review's state and decision keep their names beside a use case's (use-case intake).
        "StateEnum": "apps.reviews.models.STATE_CHOICES",
        "DecisionEnum": "apps.reviews.models.ReviewDecision.Decision",
        "UseCaseStateEnum": "apps.compliance.models_intake.UseCase.State",
        "UseCaseDecisionEnum": "apps.compliance.services_intake.DECISION_CHOICES",
    },
}

# --- Celery -----------------------------------------------------------------------
_BROKER_DIR = Path(envstr("PORTAL_BROKER_DIR", str(VAR_DIR / "celery-broker")))
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", "filesystem://localhost//")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    # Producer and consumer share one folder: the embedded broker needs no server.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Short socket timeouts and one connection retry: a request that enqueues work must not hang when
    # Redis is down (the outbox sweep re-sends later). Measured: about 0.2 s instead of 2 s per publish.
    # The worker's own reconnection loop is not affected (CELERY_BROKER_CONNECTION_MAX_RETRIES).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 3600),
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.2,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# Results live in the portal's own tables; tasks do not return payloads.
CELERY_RESULT_BACKEND = envstr("CELERY_RESULT_BACKEND", "") or None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Two queues: "celery" for light work (notifications, webhooks, governance refreshes, sweeps) and "heavy" for
# the monitoring computations (an evaluation's metrics and explanation, a version's metric windows). A worker
# started without -Q consumes both (the embedded default, `make run`); in production, workers on other machines
# started with `-Q heavy` add computing throughput without slowing notifications down (docker-compose.yml's
# worker-heavy).
PORTAL_HEAVY_QUEUE = envstr("PORTAL_HEAVY_QUEUE", "heavy")
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (Queue("celery"), Queue(PORTAL_HEAVY_QUEUE))
CELERY_TASK_ROUTES = {
    "monitoring.compute_evaluation": {"queue": PORTAL_HEAVY_QUEUE},
    "monitoring.explain_evaluation": {"queue": PORTAL_HEAVY_QUEUE},
    "monitoring.compute_version_windows": {"queue": PORTAL_HEAVY_QUEUE},
    "monitoring.assemble_upload": {"queue": PORTAL_HEAVY_QUEUE},
    "monitoring.follow_upload": {"queue": PORTAL_HEAVY_QUEUE},
}
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Email (notifications) -----------------------------------------------------------
EMAIL_BACKEND = envstr("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = envstr("DJANGO_DEFAULT_FROM_EMAIL", "mlops-portal@localhost")
# Absolute links in emails.
PORTAL_BASE_URL = envstr("PORTAL_BASE_URL", "http://127.0.0.1:8000")

# A model is registered only from an approved use case (compliance intake); off only for an installation that
# onboards an existing inventory first (README, "Use-case intake").
PORTAL_REQUIRE_INTAKE = envbool("PORTAL_REQUIRE_INTAKE", True)
# The currency values at stake are recorded in, and the money at risk is shown in (an ISO 4217 code).
PORTAL_CURRENCY = envstr("PORTAL_CURRENCY", "EUR").strip().upper() or "EUR"

# Outgoing webhooks. Targets on loopback, private or link-local addresses are refused (SSRF) unless allowed here.
PORTAL_WEBHOOKS_ALLOW_PRIVATE = envbool("PORTAL_WEBHOOKS_ALLOW_PRIVATE", False)
PORTAL_WEBHOOK_MAX_ATTEMPTS = max(1, envint("PORTAL_WEBHOOK_MAX_ATTEMPTS", 8))
PORTAL_WEBHOOK_BACKOFF_SECONDS = max(1, envint("PORTAL_WEBHOOK_BACKOFF_SECONDS", 30))
PORTAL_WEBHOOK_TIMEOUT_SECONDS = max(1, envint("PORTAL_WEBHOOK_TIMEOUT_SECONDS", 10))

# --- Logging -------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "apps.core.middleware.RequestIdLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": envstr("PORTAL_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # WeasyPrint logs every layout step of every generated document at INFO.
        "weasyprint": {"level": "WARNING"},
        # Audit checkpoints are the copy of the chain's head that log shipping carries off the host: always logged.
        "portal.audit.checkpoint": {"level": "INFO"},
    },
}

PORTAL_DEMO_PASSWORD = "portal-demo"
# Login lockout (apps.core.forms.LoginLockout): this many failures for one username from one client
# address lock that address out for the period; the second, higher count locks the username for everyone.
PORTAL_LOGIN_MAX_FAILURES = envint("PORTAL_LOGIN_MAX_FAILURES", 5)
PORTAL_LOGIN_MAX_ACCOUNT_FAILURES = envint("PORTAL_LOGIN_MAX_ACCOUNT_FAILURES", 50)
PORTAL_LOGIN_LOCKOUT_SECONDS = envint("PORTAL_LOGIN_LOCKOUT_SECONDS", 15 * 60)
# Failed sign-ins for accounts that do not exist, audited one by one per lockout period (then one event says the
# rest go to the log only): made-up names escape the per-account lockout, and must not grow the trail unbounded.
PORTAL_LOGIN_MAX_UNKNOWN_AUDITED = envint("PORTAL_LOGIN_MAX_UNKNOWN_AUDITED", 100)
# API tokens expire this many days after creation; 0: they never expire.
PORTAL_API_TOKEN_DAYS = envint("PORTAL_API_TOKEN_DAYS", 90)
# Throttle counters and login failures live in the cache, which every web process must share: a
# per-process cache multiplies each limit by the number of processes. By default the database's own
# table (made by a core migration, no server needed); CACHE_URL=redis://... for Redis.
PORTAL_CACHE_TABLE = "portal_cache"
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": envstr("CACHE_URL")}
    if envstr("CACHE_URL")
    else {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": PORTAL_CACHE_TABLE,
        # Django's default (300 entries, a third culled when full) would let anyone who fails logins
        # under many usernames push a lockout counter out of the table.
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    }
}
PORTAL_MAX_UPLOAD_BYTES = envint("PORTAL_MAX_UPLOAD_MB", 200) * 1024 * 1024
# What one upload may hold, checked on its bytes (or Parquet footer) before it is parsed; see monitoring/limits.py.
# The defaults fit a 1,000,000-row, 30-column, 200 MB CSV with room to spare on a machine of a few GB per process.
PORTAL_MAX_ROWS = envint("PORTAL_MAX_ROWS", 2_000_000)
PORTAL_MAX_CELLS = envint("PORTAL_MAX_CELLS", 50_000_000)
PORTAL_MAX_DECODED_BYTES = envint("PORTAL_MAX_DECODED_MB", 1024) * 1024 * 1024
PORTAL_MAX_LINE_BYTES = envint("PORTAL_MAX_LINE_KB", 1024) * 1024
PORTAL_MAX_GROUPS_PER_FEATURE = envint("PORTAL_MAX_GROUPS_PER_FEATURE", 1000)
# Folders whose Parquet data sets may be registered as evaluations by reference (read where they are, never
# copied), colon-separated like PATH. Empty (the default) turns registration by reference off.
PORTAL_DATA_ROOTS = [root for root in envstr("PORTAL_DATA_ROOTS", "").split(":") if root.strip()]
# Object-store buckets whose Parquet data sets may be registered by s3://bucket/key URL, read in place by ranged GETs:
# comma-separated, each a bucket or bucket/prefix (the prefix a folder). Commas, not colons: keys may hold colons.
# Empty (the default) turns s3:// references off. Reached like PORTAL_STORAGE=s3 (PORTAL_S3_ENDPOINT_URL, _REGION,
# _ADDRESSING_STYLE; AWS_* keys or an instance role), whatever PORTAL_STORAGE is; the portal needs s3:GetObject there.
PORTAL_DATA_BUCKETS = [entry.strip() for entry in envstr("PORTAL_DATA_BUCKETS", "").split(",") if entry.strip()]
PORTAL_DATA_S3 = _S3_CLIENT
# Files larger than PORTAL_MAX_UPLOAD_MB arrive in parts (POST /api/v1/uploads/, monitoring/uploads.py): each part
# is at most PORTAL_UPLOAD_PART_MB (all a web process holds at once), the whole file at most
# PORTAL_MAX_LARGE_UPLOAD_GB; parts of an upload not completed within PORTAL_UPLOAD_EXPIRY_HOURS are deleted.
PORTAL_UPLOAD_PART_BYTES = max(1, envint("PORTAL_UPLOAD_PART_MB", 64)) * 1024 * 1024
# 20 GB holds a 50-million-row, 30-column CSV (10.5 GB) with room; an upload also needs about 2.7 times its size
# free on the storage's disk while it is checked, or it is refused before any part is sent.
PORTAL_MAX_LARGE_UPLOAD_BYTES = envint("PORTAL_MAX_LARGE_UPLOAD_GB", 20) * 1024**3
PORTAL_UPLOAD_EXPIRY_HOURS = max(1, envint("PORTAL_UPLOAD_EXPIRY_HOURS", 24))
# A CSV or JSON Lines upload still open PORTAL_UPLOAD_FOLLOW_AFTER_SECONDS after it started is checked by a worker
# while its parts arrive; the worker gives up (and the file is checked once the upload is complete, as with a wait
# of 0, which turns following off) when a part, or the completion after the last, takes longer than
# PORTAL_UPLOAD_FOLLOW_WAIT_SECONDS, or when it has waited six times as long in all: waiting, it holds one of the
# heavy queue's worker slots.
PORTAL_UPLOAD_FOLLOW_AFTER_SECONDS = max(0, envint("PORTAL_UPLOAD_FOLLOW_AFTER_SECONDS", 3))
PORTAL_UPLOAD_FOLLOW_WAIT_SECONDS = max(0, envint("PORTAL_UPLOAD_FOLLOW_WAIT_SECONDS", 5))
# Uploads in parts one person may have open at once: each holds disk (its parts) until completed, aborted or expired.
PORTAL_MAX_OPEN_UPLOADS = max(1, envint("PORTAL_MAX_OPEN_UPLOADS", 10))
# A running computation not finished within this lease is taken over, even if its worker still beats.
PORTAL_TASK_LEASE_SECONDS = envint("PORTAL_TASK_LEASE_SECONDS", 900)
# A computing worker renews its claim this often; one silent for TASK_HEARTBEATS_MISSED renewals died (SIGKILL,
# out of memory, host lost) and the requeue sweep hands its evaluation (or upload) to another worker. The
# filesystem broker deletes a message when a worker fetches it, so this, not the broker's late acknowledgement,
# recovers it.
PORTAL_TASK_HEARTBEAT_SECONDS = max(1, envint("PORTAL_TASK_HEARTBEAT_SECONDS", 10))  # 0 would hammer the DB
PORTAL_TASK_HEARTBEATS_MISSED = 6
# Claims of one evaluation whose workers died or overran the lease before it ends failed: a file that kills its
# worker (out of memory) must not be retried forever. The same bound holds for the starts of its explanation and
# the assemblies of an upload in parts.
PORTAL_TASK_MAX_ATTEMPTS = envint("PORTAL_TASK_MAX_ATTEMPTS", 3)
# How often beat runs the requeue sweep: with the heartbeat above, a dead worker's evaluation restarts within
# about a minute and a half.
PORTAL_REQUEUE_SWEEP_SECONDS = max(1, envint("PORTAL_REQUEUE_SWEEP_SECONDS", 30))
# An evaluation queued longer than this with no worker taking it says so on its page and in the API.
PORTAL_QUEUED_WARNING_SECONDS = envint("PORTAL_QUEUED_WARNING_SECONDS", 60)
# Fault injection for chaos tests only: seconds a computation pauses after claiming its row. Always 0 in use.
PORTAL_CHAOS_TASK_DELAY = envint("PORTAL_CHAOS_TASK_DELAY", 0)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Audit checkpoints (apps/core/checkpoints.py): the chain's head, signed with HMAC-SHA256, appended to a file
# outside the database and logged. The key lives only in the environment. Without PORTAL_AUDIT_HMAC_KEY it is
# derived from DJANGO_SECRET_KEY (which production already demands) with a purpose of its own, so a fresh
# deployment is anchored from its first check. A separate key is better in production: rotating the secret key
# then leaves the anchor alone (otherwise keep the old secret in DJANGO_SECRET_KEY_FALLBACKS so earlier
# checkpoints still verify). Retired audit keys go to PORTAL_AUDIT_HMAC_OLD_KEYS.
PORTAL_AUDIT_HMAC_KEY = envstr("PORTAL_AUDIT_HMAC_KEY", "")
if PORTAL_AUDIT_HMAC_KEY and len(PORTAL_AUDIT_HMAC_KEY) < 32:
    raise ImproperlyConfigured(
        "PORTAL_AUDIT_HMAC_KEY must be at least 32 characters. Generate one with: "
        "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
    )
PORTAL_AUDIT_HMAC_OLD_KEYS = envlist("PORTAL_AUDIT_HMAC_OLD_KEYS")
# Secrets the portal uses again later (MLflow credentials, webhook signing secrets) are sealed at rest
# (apps/core/sealing.py). Fernet keys, the first seals, all open; unset: derived from DJANGO_SECRET_KEY and
# its fallbacks. After a rotation, `manage.py reseal_secrets` seals every stored secret under the new key.
PORTAL_SEALING_KEYS = envlist("PORTAL_SEALING_KEYS")
PORTAL_AUDIT_CHECKPOINT_FILE = Path(
    envstr("PORTAL_AUDIT_CHECKPOINT_FILE", str(VAR_DIR / "audit" / "checkpoints.jsonl"))
)
PORTAL_AUDIT_CHECKPOINT_MINUTES = envint("PORTAL_AUDIT_CHECKPOINT_MINUTES", 10)

# Periodic work; django-celery-beat copies these into its tables, where admins can edit them.
# Time alone changes governance states (a monitoring cadence lapses, an assessment or a risk acceptance falls due);
# each stored state says when (``recheck_at``) and the beat task recomputes those due this often.
PORTAL_GOVERNANCE_RECHECK_MINUTES = max(1, envint("PORTAL_GOVERNANCE_RECHECK_MINUTES", 5))
# MLflow sync (apps.integrations): how often beat syncs every enabled server, how many pages of registered models
# one run reads at most (0: all; a run that stops at its budget leaves a cursor the next run resumes from), and
# which aliases or stages mean production there (a version so marked without approval here is a shadow promotion).
PORTAL_MLFLOW_SYNC_MINUTES = max(1, envint("PORTAL_MLFLOW_SYNC_MINUTES", 15))
PORTAL_MLFLOW_MAX_PAGES = max(0, envint("PORTAL_MLFLOW_MAX_PAGES", 0))
PORTAL_MLFLOW_PRODUCTION_ALIASES = envlist("PORTAL_MLFLOW_PRODUCTION_ALIASES", "champion,prod,production,Production")
CELERY_BEAT_SCHEDULE = {
    "mlflow-sync": {"task": "integrations.sync_all", "schedule": timedelta(minutes=PORTAL_MLFLOW_SYNC_MINUTES)},
    "verify-audit-chain-nightly": {"task": "core.verify_audit_chain", "schedule": crontab(hour=2, minute=30)},
    "sweep-storage": {"task": "core.sweep_storage", "schedule": crontab(hour=3, minute=15)},
    "audit-checkpoint": {"task": "core.audit_checkpoint",
                         "schedule": timedelta(minutes=PORTAL_AUDIT_CHECKPOINT_MINUTES)},
    "mark-overdue-reassessments": {"task": "risk.mark_overdue_reassessments", "schedule": crontab(hour=6, minute=0)},
    "deliver-notification-emails": {"task": "notifications.deliver_emails", "schedule": crontab(minute="*/5")},
    # Retries whose countdown the broker lost, and deliveries whose worker died mid-send.
    "deliver-due-webhooks": {"task": "notifications.deliver_due_webhooks", "schedule": timedelta(minutes=1)},
    "monitoring-windows": {"task": "monitoring.compute_due_windows", "schedule": crontab(hour=1, minute=15)},
    "governance-refresh-due": {"task": "governance.refresh_due",
                               "schedule": timedelta(minutes=PORTAL_GOVERNANCE_RECHECK_MINUTES)},
    "monitoring-requeue-stale": {"task": "monitoring.requeue_stale",
                                 "schedule": timedelta(seconds=PORTAL_REQUEUE_SWEEP_SECONDS)},
    "monitoring-expire-uploads": {"task": "monitoring.expire_uploads", "schedule": timedelta(hours=1)},
}
