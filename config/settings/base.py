"""Platform settings, read from environment variables; PLATFORM_PROFILE picks embedded, postgres or production."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

from config.settings.profiles import (
    ALIASES,
    CONTEXT_ALIASES,
    PROFILES,
    databases,
    jwt_verifying_key,
    production_problems,
    random_token,
    redis_endpoints,
    rsa_private_key,
    secret,
    token_key_problems,
    vault_keys,
)

BASE_DIR = Path(__file__).resolve().parents[2]
env = environ.Env()

PROFILE = env.str("PLATFORM_PROFILE", default="embedded")
if PROFILE not in PROFILES:
    raise ImproperlyConfigured(f"PLATFORM_PROFILE must be one of {', '.join(PROFILES)}, not {PROFILE!r}")
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
DEPLOYABLE = env.str("DEPLOYABLE", default="monolith")
if DEPLOYABLE not in ("monolith", *CONTEXT_ALIASES):
    raise ImproperlyConfigured(
        f"DEPLOYABLE must be monolith or one of {', '.join(CONTEXT_ALIASES)}, not {DEPLOYABLE!r}"
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
USERS_VAULT_KEYS = vault_keys(env, profile=PROFILE, var_dir=VAR_DIR) if HOLDS_USERS else []
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
}
if not set(DATABASE_ALIAS_BY_APP.values()) <= set(ALIASES):
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

# --- extracted contexts: where each one's deployable answers, e.g. CONTEXT_URLS="users=http://127.0.0.1:8001" -
# A context named here is reached over HTTP (apps/<ctx>/remote.py) by every process that is not that context.
CONTEXT_URLS: dict[str, str] = env.dict("CONTEXT_URLS", default={})

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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "apps.kernel.request_id.RequestIdLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # one INFO line per proxied request from the HTTP client would double the gateway's log volume and CPU
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}
