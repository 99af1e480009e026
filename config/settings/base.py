"""Platform settings, read from environment variables; PLATFORM_PROFILE picks embedded, postgres or production."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

from config.settings.profiles import (
    ALIASES,
    CONTEXT_ALIASES,
    NODE_ALIAS,
    PROFILES,
    databases,
    fernet_keys,
    jwt_verifying_key,
    production_problems,
    random_token,
    redis_endpoints,
    rsa_private_key,
    secret,
    token_key_problems,
)

BASE_DIR = Path(__file__).resolve().parents[2]
env = environ.Env()

PROFILE = env.str("PLATFORM_PROFILE", default="embedded")
if PROFILE not in PROFILES:
    raise ImproperlyConfigured(f"PLATFORM_PROFILE must be one of {', '.join(PROFILES)}, not {PROFILE!r}")
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
DEPLOYABLE = env.str("DEPLOYABLE", default="monolith")
if DEPLOYABLE not in ("monolith", *CONTEXT_ALIASES, NODE_ALIAS):  # node: the reference imputation node
    raise ImproperlyConfigured(
        f"DEPLOYABLE must be monolith or one of {', '.join((*CONTEXT_ALIASES, NODE_ALIAS))}, not {DEPLOYABLE!r}"
    )
IS_GATEWAY = DEPLOYABLE == "monolith"  # the monolith process is the gateway; a deployable serves one context
# the users context signs tokens and holds the credential vault; every other deployable only verifies tokens
HOLDS_USERS = DEPLOYABLE in ("monolith", "users")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = secret(env, "SECRET_KEY", profile=PROFILE, var_dir=VAR_DIR, make=random_token)
JWT_SIGNING_KEY = (
    secret(env, "JWT_SIGNING_KEY", profile=PROFILE, var_dir=VAR_DIR, make=rsa_private_key) if HOLDS_USERS else ""
)
# credential vault (apps/users/vault.py): `manage.py users_vault_rotate` after putting a new key first
USERS_VAULT_KEYS = fernet_keys(env, "USERS_VAULT_KEYS", profile=PROFILE, var_dir=VAR_DIR) if HOLDS_USERS else []
INTERNAL_SERVICE_KEY = secret(env, "INTERNAL_SERVICE_KEY", profile=PROFILE, var_dir=VAR_DIR, make=random_token)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PROFILE == "production" else ["127.0.0.1", "localhost", "[::1]"]
)
JWT_VERIFYING_KEY = jwt_verifying_key(env, profile=PROFILE, var_dir=VAR_DIR, signing_key=JWT_SIGNING_KEY)
_key_problems = token_key_problems(
    holds_users=HOLDS_USERS,
    jwt_signing_key=JWT_SIGNING_KEY,
    jwt_verifying_key=JWT_VERIFYING_KEY,
    users_vault_keys=USERS_VAULT_KEYS,
)
if PROFILE == "production":
    _problems = production_problems(
        debug=DEBUG,
        secret_key=SECRET_KEY,
        internal_service_key=INTERNAL_SERVICE_KEY,
        allowed_hosts=ALLOWED_HOSTS,
        key_problems=_key_problems,
    )
    if _problems:
        raise ImproperlyConfigured("refusing to start in production: " + "; ".join(_problems))
elif _key_problems:
    raise ImproperlyConfigured("; ".join(_key_problems))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "corsheaders",
    "drf_spectacular",
    "channels",
    "rest_framework_simplejwt.token_blacklist",
    "axes",
    "apps.kernel",
    "apps.connectors",
    "apps.genomics",
    "apps.users",
    "apps.registry",
    "apps.jobs",
    "apps.files",
    "apps.notifications",
    "apps.monitoring",
    "apps.node",
    "gateway",
    "legacy.imputation",
]

MIDDLEWARE = [
    "apps.kernel.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    *(["corsheaders.middleware.CorsMiddleware"] if IS_GATEWAY else []),  # only the edge emits CORS headers
    *(["gateway.middleware.GatewayMiddleware"] if IS_GATEWAY else []),
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # after auth, as axes asks: turns a lockout flagged at login into a 429
    # WhiteNoise is sync-only: at the bottom, its thread hop is the one a sync view needs anyway, and
    # proxied requests (answered by the gateway above) never leave the event loop
    "whitenoise.middleware.WhiteNoiseMiddleware",
]

ROOT_URLCONF = "config.urls" if IS_GATEWAY else "config.urls_deployable"
DEPLOYABLE_URLCONF = env.str("DEPLOYABLE_URLCONF", default=f"apps.{DEPLOYABLE}.api.urls")

# --- gateway -------------------------------------------------------------------------------------------
GATEWAY_ROUTES_FILE = env.str("GATEWAY_ROUTES_FILE", default=str(BASE_DIR / "config" / "routes.toml"))
GATEWAY_LEGACY_URLCONF = "legacy.urls"
GATEWAY_REDIS_PREFIX = env.str("GATEWAY_REDIS_PREFIX", default="gateway:")
# domain -> URLconf when not apps.<domain>.api.urls, e.g. GATEWAY_APP_URLCONFS="jobs=some.module.urls"
GATEWAY_APP_URLCONFS: dict[str, str] = env.dict("GATEWAY_APP_URLCONFS", default={})
GATEWAY_SHADOW_KEEP = env.int("GATEWAY_SHADOW_KEEP", default=200)  # shadow diffs kept for `gateway diffs`
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")  # /metrics: Bearer METRICS_TOKEN, or loopback only when empty
CORS_ALLOWED_ORIGINS = env.list(
    "CORS_ALLOWED_ORIGINS",
    default=[] if PROFILE == "production" else ["http://localhost:3000", "http://127.0.0.1:3000"],
)
CORS_URLS_REGEX = r"^/api/.*$"
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"]
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "idempotency-key",
    "x-request-id",
    "upload-length",
    "upload-offset",
    "upload-metadata",
    "tus-resumable",
]
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "users.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
            ]
        },
    }
]

# --- databases: one per context, chosen by app label -------------------------------------------------
DATABASES = databases(PROFILE, env, VAR_DIR)
DATABASE_ROUTERS = ["config.routers.ContextRouter"]
DATABASE_ALIAS_BY_APP = {
    "users": "users",
    "auth": "users",
    "contenttypes": "users",
    "admin": "users",
    "sessions": "users",
    "token_blacklist": "users",
    "axes": "users",
    "registry": "registry",
    "jobs": "jobs",
    "files": "files",
    "notifications": "notifications",
    "monitoring": "monitoring",
    "imputation": "legacy",
    "node": NODE_ALIAS,
}
if not set(DATABASE_ALIAS_BY_APP.values()) <= {*ALIASES, NODE_ALIAS}:
    raise ImproperlyConfigured("DATABASE_ALIAS_BY_APP names an alias that DATABASES does not define")

# --- Redis: broker, channel layer, event bus, cache ----------------------------------------------------
_redis = redis_endpoints(PROFILE, env, VAR_DIR)
REDIS_URL = _redis.url
EMBEDDED_REDIS_SOCKET = _redis.embedded_socket
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
CHANNEL_LAYERS = {
    "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [_redis.channels]}}
}
EVENTS_STREAM_PREFIX = env.str("EVENTS_STREAM_PREFIX", default="events.")
EVENTS_STREAM_MAXLEN = env.int("EVENTS_STREAM_MAXLEN", default=100_000)

CELERY_BROKER_URL = _redis.broker
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 4 * 3600}  # above the longest task or countdown
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"

# --- API ---------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "apps.kernel.errors.api_exception_handler",
    # stateless: the caller is the token's claims, checked with the public key (apps/kernel/principal.py); the
    # users context's own views load the account instead (apps/users/api/base.py)
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTStatelessUserAuthentication"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SPECTACULAR_SETTINGS = {"TITLE": "Federated Genomic Imputation Platform API", "VERSION": "1.0.0"}
SIMPLE_JWT: dict[str, Any] = {
    "ALGORITHM": "RS256",
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "VERIFYING_KEY": JWT_VERIFYING_KEY,
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,  # the login service sends user_logged_in, which updates last_login
    "USER_ID_CLAIM": "user_id",  # the gateway edge requires it (gateway/edge.py)
    "TOKEN_TYPE_CLAIM": "token_type",
    "CHECK_USER_IS_ACTIVE": True,
    "TOKEN_USER_CLASS": "apps.kernel.principal.Principal",
}

# --- users: login lockout (django-axes), self-registration ------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out username+address before any check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]  # one lock per username from one address
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # successful logins are audited through user.action.logged; no session is created
AXES_VERBOSE = False  # no start-up banner on every manage.py run; failures are still logged, usernames masked
AXES_LOCKOUT_CALLABLE = "apps.users.lockout.lockout_response"  # the API error envelope, 429 with Retry-After
USERS_SELF_REGISTRATION = env.bool("USERS_SELF_REGISTRATION", default=False)
USERS_TOKEN_READERS = ("jobs", "monolith")  # deployables that may read a job owner's decrypted service token
USERS_TOKEN_READ_AUDIT_SECONDS = env.int("USERS_TOKEN_READ_AUDIT_SECONDS", default=3600)  # per job and credential

# --- extracted contexts: where each one's deployable answers, e.g. CONTEXT_URLS="users=http://127.0.0.1:8001" -
# A context named here is reached over HTTP (apps/<ctx>/remote.py) by every process that is not that context.
CONTEXT_URLS: dict[str, str] = env.dict("CONTEXT_URLS", default={})

# --- registry: health checks, outbound URL guard (apps/registry/outbound.py) ------------------------------------
REGISTRY_HEALTH_CONCURRENCY = env.int("REGISTRY_HEALTH_CONCURRENCY", default=8)  # probes in flight at once
REGISTRY_HEALTH_CONNECT_TIMEOUT = env.float("REGISTRY_HEALTH_CONNECT_TIMEOUT", default=5.0)
REGISTRY_HEALTH_READ_TIMEOUT = env.float("REGISTRY_HEALTH_READ_TIMEOUT", default=15.0)
REGISTRY_HEALTH_HISTORY_DAYS = env.int("REGISTRY_HEALTH_HISTORY_DAYS", default=30)
REGISTRY_AT_RISK_DAYS = env.int("REGISTRY_AT_RISK_DAYS", default=3)  # unhealthy this long: flagged at risk
REGISTRY_DEACTIVATE_AT_RISK = env.bool("REGISTRY_DEACTIVATE_AT_RISK", default=False)
REGISTRY_OUTBOUND_ALLOW_LINK_LOCAL = env.bool("REGISTRY_OUTBOUND_ALLOW_LINK_LOCAL", default=False)
REGISTRY_OUTBOUND_DENY_PRIVATE = env.bool("REGISTRY_OUTBOUND_DENY_PRIVATE", default=False)
CELERY_BEAT_SCHEDULE = {
    "registry-health-checks": {"task": "registry.health_check_due", "schedule": 60.0},
    "registry-health-maintenance": {"task": "registry.health_maintenance", "schedule": 3600.0},
}

# --- files: uploads (tus), storage (local or S3), pre-flight, downloads, retention (apps/files) ---------------
from config.settings.profiles import env_secret, fernet_keys_problem  # noqa: E402 (this section's own)

HOLDS_FILES = DEPLOYABLE in ("monolith", "files")
# zip passwords of result files (apps/kernel/secretbox.py): the first key encrypts, all decrypt, like USERS_VAULT_KEYS
FILES_ENCRYPTION_KEYS = (
    fernet_keys(env, "FILES_ENCRYPTION_KEYS", profile=PROFILE, var_dir=VAR_DIR) if HOLDS_FILES else []
)
if HOLDS_FILES and (_files_keys_problem := fernet_keys_problem("FILES_ENCRYPTION_KEYS", FILES_ENCRYPTION_KEYS)):
    raise ImproperlyConfigured(_files_keys_problem)
FILES_STORAGE = env.str("FILES_STORAGE", default="local")  # local (FileSystemStorage) | s3 (S3Storage, boto3)
if FILES_STORAGE not in ("local", "s3"):
    raise ImproperlyConfigured(f"FILES_STORAGE must be local or s3, not {FILES_STORAGE!r}")
FILES_MEDIA_ROOT = Path(env.str("FILES_MEDIA_ROOT", default=str(VAR_DIR / "media")))
FILES_S3_BUCKET = env.str("FILES_S3_BUCKET", default="")
FILES_S3_ENDPOINT_URL = env.str("FILES_S3_ENDPOINT_URL", default="")  # empty: AWS; else MinIO, Ceph, moto ...
FILES_S3_REGION = env.str("FILES_S3_REGION", default="us-east-1")
FILES_S3_ADDRESSING_STYLE = env.str("FILES_S3_ADDRESSING_STYLE", default="")  # "path" for most non-AWS servers
FILES_S3_ACCESS_KEY_ID = env_secret(env, "FILES_S3_ACCESS_KEY_ID")  # empty: boto3's own chain (role, profile)
FILES_S3_SECRET_ACCESS_KEY = env_secret(env, "FILES_S3_SECRET_ACCESS_KEY")
if HOLDS_FILES and FILES_STORAGE == "s3" and not FILES_S3_BUCKET:
    raise ImproperlyConfigured("FILES_STORAGE=s3 needs FILES_S3_BUCKET")
FILES_FSYNC = env.bool("FILES_FSYNC", default=True)  # local storage: sync each chunk before its offset is committed
# uploads: .vcf.gz only, as the imputation servers only consider *.vcf.gz (bgzip; reference/protocols.md §6)
FILES_ALLOWED_SUFFIXES = env.list("FILES_ALLOWED_SUFFIXES", default=[".vcf.gz"])
FILES_MAX_UPLOAD_BYTES = env.int("FILES_MAX_UPLOAD_BYTES", default=100 * 1024**3)  # Tus-Max-Size
FILES_ONESHOT_MAX_BYTES = env.int("FILES_ONESHOT_MAX_BYTES", default=32 * 1024**2)  # POST /api/files/ (multipart)
FILES_TUS_MAX_CHUNK_BYTES = env.int("FILES_TUS_MAX_CHUNK_BYTES", default=64 * 1024**2)  # one PATCH body at most
FILES_UPLOAD_LEASE_SECONDS = env.int("FILES_UPLOAD_LEASE_SECONDS", default=300)  # a PATCH's hold on its upload
# a PATCH body streams to storage as it arrives (apps/files/api/asgi.py); one silent this long fails and lets go
FILES_TUS_BODY_IDLE_SECONDS = env.float("FILES_TUS_BODY_IDLE_SECONDS", default=30.0)
if not FILES_TUS_BODY_IDLE_SECONDS > 0:  # a socket timeout of 0 would fail every read, a negative one raise
    raise ImproperlyConfigured(f"FILES_TUS_BODY_IDLE_SECONDS must be positive, not {FILES_TUS_BODY_IDLE_SECONDS:g}")
# streamed bodies (the tus PATCH) skip Django's asynchronous request cycle: config/data_plane.py, ADR 0009
DATA_PLANE = env.bool("DATA_PLANE", default=True)
FILES_UPLOAD_EXPIRY_HOURS = env.int("FILES_UPLOAD_EXPIRY_HOURS", default=24)  # after the last chunk: abandoned
FILES_INPUT_RETENTION_DAYS = env.int("FILES_INPUT_RETENTION_DAYS", default=30)  # 0: inputs are kept until deleted
FILES_ORPHAN_GRACE_HOURS = env.int("FILES_ORPHAN_GRACE_HOURS", default=24)  # unowned objects kept this long
FILES_SIGNED_URL_SECONDS = env.int("FILES_SIGNED_URL_SECONDS", default=300)
FILES_CELERY_QUEUE = env.str("FILES_CELERY_QUEUE", default="celery")  # a files deployable's worker: its own queue
CELERY_BEAT_SCHEDULE = {
    **CELERY_BEAT_SCHEDULE,
    "files-retention": {"task": "files.retention", "schedule": 3600.0, "options": {"queue": FILES_CELERY_QUEUE}},
}
# browsers running tus-js-client must read these response headers and may send these request headers
CORS_EXPOSE_HEADERS = [
    *CORS_EXPOSE_HEADERS,
    *("Location", "Upload-Offset", "Upload-Length", "Upload-Expires", "Tus-Resumable", "Tus-Version"),
    *("Tus-Extension", "Tus-Max-Size", "Content-Range", "Accept-Ranges", "Content-Disposition"),
]
CORS_ALLOW_HEADERS = [*CORS_ALLOW_HEADERS, "x-http-method-override", "range"]

# --- static files and the web UI ------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
WHITENOISE_ROOT = FRONTEND_DIST if FRONTEND_DIST.is_dir() else None
WHITENOISE_INDEX_FILE = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": VAR_DIR / "media"}},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- security -----------------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if PROFILE == "production":
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]  # probes and scrapes speak plain HTTP inside
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- logs: one JSON object per line (apps/kernel/logging_json.py) with request_id, user_id, context, deployable;
# LOG_FORMAT=plain for a human at a terminal
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "apps.kernel.request_id.RequestIdLogFilter"},
        "log_context": {"()": "apps.kernel.logging_json.LogContextFilter"},
    },
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s user=%(user_id)s %(deployable)s] %(message)s"
        },
        "json": {"()": "apps.kernel.logging_json.JsonLogFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id", "log_context"]}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # one INFO line per proxied request from the HTTP client would double the gateway's log volume and CPU
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}

# --- notifications: WebSocket push, e-mail (Django backends; SMTP in production), digests (apps/notifications) ---
from typing import cast  # noqa: E402 (this section's own)

NOTIFICATIONS_WS_HEARTBEAT_SECONDS = env.float("NOTIFICATIONS_WS_HEARTBEAT_SECONDS", default=25.0)
NOTIFICATIONS_WS_RESYNC_LIMIT = env.int("NOTIFICATIONS_WS_RESYNC_LIMIT", default=100)  # ?since= replays at most
# job statuses that make a notification (every status change is pushed live anyway); add "running" for starts
NOTIFICATIONS_JOB_STATUSES = env.list("NOTIFICATIONS_JOB_STATUSES", default=["completed", "failed", "cancelled"])
NOTIFICATIONS_DIGEST_HOUR = env.int("NOTIFICATIONS_DIGEST_HOUR", default=8)  # daily digests: this hour, local time
NOTIFICATIONS_UI_URL = env.str("NOTIFICATIONS_UI_URL", default="http://127.0.0.1:8000")  # links in e-mails
NOTIFICATIONS_EMAIL_SUBJECT_PREFIX = env.str("NOTIFICATIONS_EMAIL_SUBJECT_PREFIX", default="[Imputation Platform] ")
NOTIFICATIONS_EMAIL_RETRY_SECONDS = env.int("NOTIFICATIONS_EMAIL_RETRY_SECONDS", default=60)  # doubles per retry
NOTIFICATIONS_CELERY_QUEUE = env.str("NOTIFICATIONS_CELERY_QUEUE", default="celery")  # a deployable's own queue
if PROFILE == "production":  # the console backend (above) is for the embedded profile
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Imputation Platform <no-reply@localhost>")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env_secret(env, "EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)  # STARTTLS, usually port 587
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)  # implicit TLS, usually port 465
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive; set one of them")
# one sweep a minute serves hourly and daily digests and the ends of quiet hours: due times are per user, local
CELERY_BEAT_SCHEDULE |= {
    "notifications-emails-due": {
        "task": "notifications.emails_due",
        "schedule": 60.0,
        "options": {"queue": NOTIFICATIONS_CELERY_QUEUE},
    },
}
# the channel layer carries only notifications' pushes. Pushes bound for one server process wait in one Redis key
# (channels-redis' per-process inbox), so a fan-out to every user on that server needs room for all of them at
# once: beyond `capacity` channels-redis drops silently. Its receive loop blocks 5 s on Redis, as long as redis-py's
# default socket timeout: under load the read times out first and takes the sockets down; give it a margin.
_channels = cast(dict[str, Any], CHANNEL_LAYERS["default"]["CONFIG"])
_channels["capacity"] = env.int("NOTIFICATIONS_CHANNEL_CAPACITY", default=20_000)
_channels["prefix"] = env.str("CHANNELS_PREFIX", default="asgi")  # platforms sharing one Redis keep apart
_channels["hosts"] = [
    {"address": host, "socket_timeout": 20} if isinstance(host, str) else host for host in _channels["hosts"]
]
# the ASGI server logs accepted sockets with their query string: keep `?token=` out of the logs
cast(dict[str, Any], LOGGING["filters"])["socket_token"] = {"()": "apps.notifications.redaction.QueryTokenFilter"}
cast(dict[str, Any], LOGGING["loggers"]).update(
    {"uvicorn.error": {"filters": ["socket_token"]}, "uvicorn.access": {"filters": ["socket_token"]}}
)

# --- jobs: the job state machine and its orchestration on Celery (apps/jobs) ------------------------------------
HOLDS_JOBS = DEPLOYABLE in ("monolith", "jobs")
# the zip passwords the platform generates for each job (apps/kernel/secretbox.py), like FILES_ENCRYPTION_KEYS
JOBS_ENCRYPTION_KEYS = fernet_keys(env, "JOBS_ENCRYPTION_KEYS", profile=PROFILE, var_dir=VAR_DIR) if HOLDS_JOBS else []
if HOLDS_JOBS and (_jobs_keys_problem := fernet_keys_problem("JOBS_ENCRYPTION_KEYS", JOBS_ENCRYPTION_KEYS)):
    raise ImproperlyConfigured(_jobs_keys_problem)
JOBS_CELERY_QUEUE = env.str("JOBS_CELERY_QUEUE", default="celery")  # a jobs deployable's worker: its own queue
JOBS_SPOOL_DIR = Path(env.str("JOBS_SPOOL_DIR", default=str(VAR_DIR / "jobs-spool")))  # inputs/results in transit
JOBS_DISPATCH_SECONDS = env.float("JOBS_DISPATCH_SECONDS", default=2.0)  # how often due jobs are handed to workers
JOBS_DISPATCH_BATCH = env.int("JOBS_DISPATCH_BATCH", default=200)
JOBS_LEASE_SECONDS = env.int("JOBS_LEASE_SECONDS", default=90)  # a dead worker's job is picked up again after this
JOBS_POLL_QUEUED_SECONDS = env.float("JOBS_POLL_QUEUED_SECONDS", default=60.0)  # remote queue: poll slowly
JOBS_POLL_RUNNING_SECONDS = env.float("JOBS_POLL_RUNNING_SECONDS", default=30.0)
JOBS_POLL_JITTER = env.float("JOBS_POLL_JITTER", default=0.2)  # +-20% so polls of jobs submitted together spread
JOBS_BACKOFF_MAX_SECONDS = env.float("JOBS_BACKOFF_MAX_SECONDS", default=600.0)  # 5xx/timeouts: up to 10 min apart
JOBS_REQUEUE_SECONDS = env.float("JOBS_REQUEUE_SECONDS", default=120.0)  # the remote's per-user job limit was hit
JOBS_SERVICE_CONCURRENCY = env.int("JOBS_SERVICE_CONCURRENCY", default=8)  # calls in flight per service
JOBS_SUBMIT_MAX_ATTEMPTS = env.int("JOBS_SUBMIT_MAX_ATTEMPTS", default=5)
JOBS_LOST_AFTER_NOT_FOUND = env.int("JOBS_LOST_AFTER_NOT_FOUND", default=3)  # 404s in a row: the remote lost it
JOBS_AUTH_RETRY_SECONDS = env.float("JOBS_AUTH_RETRY_SECONDS", default=3600.0)  # a paused job tries its token again
JOBS_CANCEL_TIMEOUT_SECONDS = env.float("JOBS_CANCEL_TIMEOUT_SECONDS", default=900.0)  # then cancelled locally
JOBS_MAX_INPUT_FILES = env.int("JOBS_MAX_INPUT_FILES", default=30)
_jobs_queue = {"queue": JOBS_CELERY_QUEUE}
CELERY_BEAT_SCHEDULE |= {
    "jobs-dispatch": {"task": "jobs.dispatch", "schedule": JOBS_DISPATCH_SECONDS, "options": _jobs_queue},
    "jobs-reconcile": {"task": "jobs.reconcile", "schedule": 300.0, "options": _jobs_queue},
    "jobs-schedules": {"task": "jobs.schedules_run", "schedule": 60.0, "options": _jobs_queue},
}

# --- node: the reference imputation node (apps/node), a separate system with its own database and queue ---------
CELERY_TASK_ROUTES = {"node.*": {"queue": "node"}}
NODE_DIR = Path(env.str("NODE_DIR", default=str(VAR_DIR / "node")))  # panels, job workspaces
NODE_BEAGLE = env.str("NODE_BEAGLE", default="beagle")  # the Beagle 5 command (Debian: apt-get install beagle)
NODE_BEAGLE_THREADS = env.int("NODE_BEAGLE_THREADS", default=2)
NODE_BEAGLE_TIMEOUT_SECONDS = env.int("NODE_BEAGLE_TIMEOUT_SECONDS", default=12 * 60)  # under the task time limit
NODE_MAX_JOBS_PER_USER = env.int("NODE_MAX_JOBS_PER_USER", default=2)  # Cloudgene's maxRunningJobsPerUser
NODE_UPLOAD_LIMIT_MB = env.int("NODE_UPLOAD_LIMIT_MB", default=5000)  # Cloudgene's uploadLimit
NODE_PULL_LIMIT_MB = env.int("NODE_PULL_LIMIT_MB", default=NODE_UPLOAD_LIMIT_MB)  # per input a WES run pulls by URL
NODE_MAX_DOWNLOADS = env.int("NODE_MAX_DOWNLOADS", default=10)  # per result file
NODE_TOKEN_DAYS = env.int("NODE_TOKEN_DAYS", default=30)
NODE_NOTIFICATION_AFTER_DAYS = env.int("NODE_NOTIFICATION_AFTER_DAYS", default=4)
NODE_RETIRE_AFTER_DAYS = env.int("NODE_RETIRE_AFTER_DAYS", default=6)
NODE_EXECUTOR = env.str("NODE_EXECUTOR", default="celery")  # celery (the node queue) | inline (a thread: tests)
NODE_FAULTS_ENABLED = env.bool("NODE_FAULTS_ENABLED", default=False)  # /api/v2/node/faults: tests only
# the monolith serves the node under /node/ (the embedded default, so `make run` has a node to submit to);
# elsewhere the node runs as its own process: DEPLOYABLE=node uvicorn apps.node.asgi:application
NODE_EMBEDDED = env.bool("NODE_EMBEDDED", default=PROFILE == "embedded") and IS_GATEWAY
CELERY_BEAT_SCHEDULE |= {
    "node-retention": {"task": "node.retention", "schedule": 3600.0, "options": {"queue": "node"}},
}

# --- monitoring: health, metrics, dashboard, analytics, alerts (apps/monitoring) --------------------------------
# GET /metrics is the gateway's (gateway/api.py): `Authorization: Bearer METRICS_TOKEN`, or loopback callers only
# when METRICS_TOKEN is empty. Business metrics come from apps/monitoring/metrics.py; per-alias database metrics
# (django-prometheus's django_db_* series) from an execute wrapper on every connection, cache metrics from the
# Redis cache below.
MONITORING_DB_METRICS = env.bool("MONITORING_DB_METRICS", default=True)
CACHES["default"]["BACKEND"] = "apps.monitoring.instrumentation.MeteredRedisCache"
# the health report (GET /api/monitoring/health/, and every evaluation)
MONITORING_HEALTH_TIMEOUT = env.float("MONITORING_HEALTH_TIMEOUT", default=3.0)  # per probe; the report waits +1 s
MONITORING_HEALTH_CACHE_SECONDS = env.float("MONITORING_HEALTH_CACHE_SECONDS", default=10.0)  # per process
MONITORING_CRITICAL_DATABASES = env.list("MONITORING_CRITICAL_DATABASES", default=list(CONTEXT_ALIASES))
MONITORING_WORKER_QUEUES = env.list("MONITORING_WORKER_QUEUES", default=["celery"])  # each needs a live worker
MONITORING_WORKER_PING_TIMEOUT = env.float("MONITORING_WORKER_PING_TIMEOUT", default=1.0)
MONITORING_STORAGE_MIN_FREE_BYTES = env.int("MONITORING_STORAGE_MIN_FREE_BYTES", default=1024**3)
MONITORING_EVENT_BACKLOG_MAX = env.int("MONITORING_EVENT_BACKLOG_MAX", default=1000)  # per outbox or consumer
MONITORING_EVENT_BACKLOG_AGE_SECONDS = env.float("MONITORING_EVENT_BACKLOG_AGE_SECONDS", default=300.0)
# alert rules (apps/monitoring/services/alerts.py; compose/prometheus/alerts.yml mirrors them)
MONITORING_ALERT_SERVICE_DOWN_MINUTES = env.int("MONITORING_ALERT_SERVICE_DOWN_MINUTES", default=10)
MONITORING_ALERT_FAILURE_RATE = env.float("MONITORING_ALERT_FAILURE_RATE", default=50.0)  # percent of finished jobs
MONITORING_ALERT_FAILURE_WINDOW_MINUTES = env.int("MONITORING_ALERT_FAILURE_WINDOW_MINUTES", default=60)
MONITORING_ALERT_FAILURE_MIN_JOBS = env.int("MONITORING_ALERT_FAILURE_MIN_JOBS", default=5)
MONITORING_ALERT_USER_IDS = env.list("MONITORING_ALERT_USER_IDS", default=[])  # empty: every operator
MONITORING_ALERT_KEEP_DAYS = env.int("MONITORING_ALERT_KEEP_DAYS", default=90)  # resolved alerts
MONITORING_SNAPSHOT_KEEP_HOURS = env.int("MONITORING_SNAPSHOT_KEEP_HOURS", default=24)
MONITORING_EVALUATE_SECONDS = env.float("MONITORING_EVALUATE_SECONDS", default=60.0)
MONITORING_CELERY_QUEUE = env.str("MONITORING_CELERY_QUEUE", default="celery")  # a deployable's own queue
# the analytics' per-day summaries: days changed since are read from the job projection until the next run
MONITORING_SUMMARISE_SECONDS = env.float("MONITORING_SUMMARISE_SECONDS", default=300.0)
CELERY_BEAT_SCHEDULE |= {
    "monitoring-evaluate": {
        "task": "monitoring.evaluate",
        "schedule": MONITORING_EVALUATE_SECONDS,
        "options": {"queue": MONITORING_CELERY_QUEUE, "expires": MONITORING_EVALUATE_SECONDS},
    },
    "monitoring-prune": {"task": "monitoring.prune", "schedule": 3600.0, "options": {"queue": MONITORING_CELERY_QUEUE}},
    "monitoring-summarise": {
        "task": "monitoring.summarise",
        "schedule": MONITORING_SUMMARISE_SECONDS,
        "options": {"queue": MONITORING_CELERY_QUEUE, "expires": MONITORING_SUMMARISE_SECONDS},
    },
}
