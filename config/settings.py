"""UserOps settings: one module, driven by the environment.

With no environment at all the project runs embedded (SQLite file, filesystem Celery transport under
``var/``); ``DATABASE_URL`` and ``CELERY_BROKER_URL`` switch it to PostgreSQL and Redis.
"""

import sys
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF, UNSAFE_EVAL, UNSAFE_INLINE
from django.templatetags.static import static
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _
from kombu import Queue

from config.celery_routes import QUEUES

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG and env.bool("USEROPS_PRODUCTION", default=False):
        raise environ.ImproperlyConfigured("DJANGO_SECRET_KEY must be set in production.")
    SECRET_KEY = "insecure-development-key-never-use-in-production"  # noqa: S105
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "modeltranslation",
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.import_export",
    "unfold.contrib.simple_history",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "simple_history",
    "django_celery_beat",
    "csp",
    "apps.core",
    "apps.members",
    "apps.benefits",
    "apps.identities",
    "apps.messaging",
    "apps.campaigns",
    "apps.events",
    "apps.imports",
    "apps.analytics",
    "apps.abuse",
    "apps.engagement",
    "apps.reminders",
    "apps.rules",
    "apps.webhooks",
    "apps.sales",
    "apps.tagging",
    "apps.feedback",
    "apps.lifecycle",
    "apps.journeys",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "apps.core.middleware.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.core.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# The application connects as a least-privileged role (DATABASE_URL); schema changes need the owner, so the
# commands that make them connect through DATABASE_MIGRATE_URL when it is set (docs/operations.md).
OWNER_COMMANDS = {"migrate", "create_app_db_role"}
_database_url_var = "DATABASE_URL"
if env("DATABASE_MIGRATE_URL", default="") and len(sys.argv) > 1 and sys.argv[1] in OWNER_COMMANDS:
    _database_url_var = "DATABASE_MIGRATE_URL"
DATABASES = {
    "default": env.db(_database_url_var, default=f"sqlite:///{VAR_DIR / 'userops.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let web, worker and beat share the embedded file without "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if env.bool("DATABASE_POOLED", default=False):
        # Behind PgBouncer in transaction pooling, consecutive transactions of one connection may reach different
        # server sessions: a named cursor or a prepared statement would be looked for on the wrong one.
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
# Read replicas (docs/operations.md): reads that tolerate lag go to the first healthy one (apps/core/replicas.py).
for _number, _replica_url in enumerate(env.list("DATABASE_REPLICA_URLS", default=[]), start=1):
    DATABASES[f"replica_{_number}"] = {
        **env.db_url_config(_replica_url),
        "ATOMIC_REQUESTS": False,
        "CONN_MAX_AGE": DATABASES["default"].get("CONN_MAX_AGE", 0),
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["apps.core.replicas.PrimaryReplicaRouter"]
USEROPS_REPLICAS = {
    "MAX_LAG_SECONDS": env.float("USEROPS_REPLICA_MAX_LAG_SECONDS", default=30.0),
    "CHECK_SECONDS": env.float("USEROPS_REPLICA_CHECK_SECONDS", default=5.0),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
# Refuses locked accounts and addresses and counts wrong passwords (apps/core/services.py: staff sign-in guard).
AUTHENTICATION_BACKENDS = ["apps.core.auth_backends.GuardedModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"  # signing in at /admin/login/ itself lands on the dashboard

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
FORMAT_MODULE_PATH = ["config.formats"]
LOCALE_PATHS = [BASE_DIR / "locale"]
MODELTRANSLATION_DEFAULT_LANGUAGE = "en"
MODELTRANSLATION_FALLBACK_LANGUAGES = ("en", "zh-hans")
TIME_ZONE = env("USEROPS_TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("USEROPS_MEDIA_ROOT", default=VAR_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# One cache for every process: API throttles and the sign-in guard count in it, so their limits hold across web workers
# and machines. CACHE_URL wins; else Redis when REDIS_URL is set; else a table in the database (created by migrate).
if env("CACHE_URL", default=""):
    CACHES = {"default": env.cache("CACHE_URL")}
elif env("REDIS_URL", default=""):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env("REDIS_URL")}}
else:
    # Culling (beyond MAX_ENTRIES) would drop counters, lock-outs included; expired rows are removed first anyway.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "userops_cache",
            "OPTIONS": {"MAX_ENTRIES": 1_000_000},
        }
    }

# Security: the production posture is the default; local runs opt out with DJANGO_DEBUG / USEROPS_HTTPS.
# ``manage.py check --deploy`` passes with no warning when DJANGO_DEBUG=false, USEROPS_PRODUCTION=true, a strong
# DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS are set (tests/core/test_deploy.py proves it). See docs/security.md.
USEROPS_HTTPS = env.bool("USEROPS_HTTPS", default=not DEBUG and env.bool("USEROPS_PRODUCTION", default=False))
SECURE_SSL_REDIRECT = env.bool("USEROPS_SSL_REDIRECT", default=USEROPS_HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^health/$"]  # the load balancer's plain-HTTP health check
SESSION_COOKIE_SECURE = USEROPS_HTTPS
CSRF_COOKIE_SECURE = USEROPS_HTTPS
SECURE_HSTS_SECONDS = env.int("USEROPS_HSTS_SECONDS", default=31536000) if USEROPS_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = USEROPS_HTTPS
SECURE_HSTS_PRELOAD = USEROPS_HTTPS
# Only behind a proxy that sets X-Forwarded-Proto itself (and drops the client's): otherwise a client could claim HTTPS.
if env.bool("USEROPS_BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("USEROPS_SESSION_AGE_SECONDS", default=12 * 3600)
CSRF_COOKIE_SAMESITE = "Lax"
# Behind a reverse proxy that appends the client address to X-Forwarded-For, the access log records that address.
USEROPS_TRUST_X_FORWARDED_FOR = env.bool("USEROPS_TRUST_X_FORWARDED_FOR", default=False)

# Content security policy (django-csp 4). Unfold's Alpine.js evaluates its x-data expressions with Function(), so
# scripts need 'unsafe-eval'; our own inline scripts carry the per-request nonce. Unfold writes its theme colours in a
# <style> element and uses style attributes, so styles allow 'unsafe-inline' (no nonce there: it would disable that).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE, UNSAFE_EVAL],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "media-src": [SELF, "blob:", "mediastream:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
if env("USEROPS_CSP_REPORT_URI", default=""):
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["report-uri"] = [env("USEROPS_CSP_REPORT_URI")]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.core.api.authentication.ApiKeyAuthentication",
        "apps.members.api.authentication.MemberTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exceptions.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "member_token_issue": env("USEROPS_THROTTLE_TOKEN_ISSUE", default="120/min"),
        "redeem": env("USEROPS_THROTTLE_REDEEM", default="1200/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "UserOps API",
    "DESCRIPTION": "Member self-service and trusted-system API of UserOps. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "MemberStatusEnum": "apps.members.models.MemberStatus",
        "PointsEntryKindEnum": "apps.members.models.PointsEntryKind",
        "TierChangeKindEnum": "apps.members.models.TierChangeKind",
        "BenefitKindEnum": "apps.benefits.models.BenefitKind",
        "BenefitStatusEnum": "apps.benefits.models.BenefitStatus",
        "EventKindEnum": "apps.events.models.EventKind",
        "EventStatusEnum": "apps.events.models.EventStatus",
        "CampaignStatusEnum": "apps.campaigns.models.CampaignStatus",
        "RunStatusEnum": "apps.campaigns.models.RunStatus",
        "SourceChannelEnum": "apps.members.models.SourceChannel",
        "ConsentChannelEnum": "apps.members.models.ConsentChannel",
        "RedemptionChannelEnum": "apps.benefits.models.RedemptionChannel",
        "ActivityChannelEnum": "apps.analytics.models.ActivityChannel",
        "IdentityKindEnum": "apps.identities.models.IdentityKind",
        "FeedbackKindEnum": "apps.feedback.models.FeedbackKind",
        "FeedbackChannelEnum": "apps.feedback.models.FeedbackChannel",
        "FeedbackStatusEnum": "apps.feedback.models.FeedbackStatus",
        "EndpointStatusEnum": "apps.webhooks.models.EndpointStatus",
        "LeadItemStatusEnum": ["created", "duplicate", "rejected"],
        "RuleStatusEnum": "apps.rules.models.RuleStatus",
        "VerdictOutcomeEnum": "apps.rules.selectors.VERDICT_OUTCOMES",
    },
}

# Celery: embedded default is a filesystem transport, so a laptop needs no broker.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _celery_queue_dir = VAR_DIR / "celery" / "queue"
    for _folder in (_celery_queue_dir, VAR_DIR / "celery" / "processed", VAR_DIR / "celery" / "control"):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_queue_dir),
        "data_folder_out": str(_celery_queue_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Queues by workload (config/celery_routes.py); every worker of `make run` consumes all of them.
CELERY_TASK_DEFAULT_QUEUE = "interactive"
CELERY_TASK_QUEUES = [Queue(name, routing_key=name) for name in QUEUES]
CELERY_TASK_ROUTES = ("config.celery_routes.route_task",)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Programme rules. Each is documented in docs/operations.md.
USEROPS = {
    "DEFAULT_REGION": env("USEROPS_DEFAULT_REGION", default="CN"),
    "POINTS_VALIDITY_DAYS": env.int("USEROPS_POINTS_VALIDITY_DAYS", default=365),
    "GROWTH_WINDOW_DAYS": env.int("USEROPS_GROWTH_WINDOW_DAYS", default=365),
    "TIER_GUARANTEE_DAYS": env.int("USEROPS_TIER_GUARANTEE_DAYS", default=365),
    "CUSTOMER_SERVICE_DAILY_ADJUST_LIMIT": env.int("USEROPS_CUSTOMER_SERVICE_DAILY_ADJUST_LIMIT", default=500),
    "ADJUST_CONFIRM_ABOVE": env.int("USEROPS_ADJUST_CONFIRM_ABOVE", default=200),
    # Growth value customer service may adjust per person per day on their own; more waits for a second person.
    "CUSTOMER_SERVICE_DAILY_GROWTH_ADJUST_LIMIT": env.int("USEROPS_CUSTOMER_SERVICE_DAILY_GROWTH_ADJUST_LIMIT", default=200),
    # What one point costs the programme, in CNY: the points liability and the cost of points a campaign awards.
    "POINT_VALUE_YUAN": env("USEROPS_POINT_VALUE_YUAN", default="0.01"),
    "MEMBER_TOKEN_TTL": timedelta(minutes=env.int("USEROPS_MEMBER_TOKEN_TTL_MINUTES", default=60)),
    "IDEMPOTENCY_KEY_TTL": timedelta(hours=env.int("USEROPS_IDEMPOTENCY_KEY_TTL_HOURS", default=72)),
    "LOGIN_MAX_FAILURES_PER_ACCOUNT": env.int("USEROPS_LOGIN_MAX_FAILURES_PER_ACCOUNT", default=5),
    "LOGIN_MAX_FAILURES_PER_ADDRESS": env.int("USEROPS_LOGIN_MAX_FAILURES_PER_ADDRESS", default=20),
    "SEGMENT_QUERY_TIMEOUT_MS": env.int("USEROPS_SEGMENT_QUERY_TIMEOUT_MS", default=5000),
    "LOGIN_LOCKOUT": timedelta(minutes=env.int("USEROPS_LOGIN_LOCKOUT_MINUTES", default=15)),
}

UNFOLD = {
    "SITE_TITLE": _("UserOps"),
    "SITE_HEADER": _("UserOps"),
    "SITE_SUBHEADER": _("Member operations console"),
    "SITE_SYMBOL": "loyalty",
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "SHOW_LANGUAGES": True,
    "DASHBOARD_CALLBACK": "config.dashboard.dashboard_callback",
    "STYLES": [lambda request: static("userops/admin.css"), lambda request: static("userops/member.css")],
    "COLORS": {
        "primary": {
            "50": "oklch(97.1% .013 17.38)",
            "100": "oklch(93.6% .032 17.717)",
            "200": "oklch(88.5% .062 18.334)",
            "300": "oklch(80.8% .114 19.571)",
            "400": "oklch(70.4% .191 22.216)",
            "500": "oklch(63.7% .237 25.331)",
            "600": "oklch(57.7% .245 27.325)",
            "700": "oklch(50.5% .213 27.518)",
            "800": "oklch(44.4% .177 26.899)",
            "900": "oklch(39.6% .141 25.723)",
            "950": "oklch(25.8% .092 26.042)",
        },
    },
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": True,
        "navigation": [
            {
                "title": _("Members"),
                "items": [
                    {"title": _("Dashboard"), "icon": "dashboard", "link": reverse_lazy("admin:index")},
                    {
                        "title": _("Members"),
                        "icon": "group",
                        "link": reverse_lazy("admin:members_member_changelist"),
                        "permission": lambda request: request.user.has_perm("members.view_member"),
                    },
                    {
                        "title": _("Import members"),
                        "icon": "upload_file",
                        "link": reverse_lazy("admin:imports_importjob_changelist"),
                        "permission": lambda request: request.user.has_perm("imports.import_members"),
                    },
                    {
                        "title": _("Tiers"),
                        "icon": "military_tech",
                        "link": reverse_lazy("admin:members_tier_changelist"),
                        "permission": lambda request: request.user.has_perm("members.view_tier"),
                    },
                    {
                        "title": _("Benefits"),
                        "icon": "redeem",
                        "link": reverse_lazy("admin:benefits_benefit_changelist"),
                        "permission": lambda request: request.user.has_perm("benefits.view_benefit"),
                    },
                    {
                        "title": _("Points mall"),
                        "icon": "storefront",
                        "link": reverse_lazy("admin:benefits_benefit_mall"),
                        "permission": lambda request: request.user.has_perm("benefits.view_benefit"),
                    },
                    {
                        "title": _("Grants"),
                        "icon": "confirmation_number",
                        "link": reverse_lazy("admin:benefits_grant_changelist"),
                        "permission": lambda request: request.user.has_perm("benefits.view_grant"),
                    },
                    {
                        "title": _("Events"),
                        "icon": "event",
                        "link": reverse_lazy("admin:events_event_changelist"),
                        "permission": lambda request: request.user.has_perm("events.view_event"),
                    },
                    {
                        "title": _("Clubs"),
                        "icon": "groups",
                        "link": reverse_lazy("admin:events_club_changelist"),
                        "permission": lambda request: request.user.has_perm("events.view_club"),
                    },
                    {
                        "title": _("Points ledger"),
                        "icon": "receipt_long",
                        "link": reverse_lazy("admin:members_pointsentry_changelist"),
                        "permission": lambda request: request.user.has_perm("members.view_pointsentry"),
                    },
                    {
                        "title": _("Points adjustments"),
                        "icon": "rule",
                        "link": reverse_lazy("admin:members_pointsadjustment_changelist"),
                        "permission": lambda request: request.user.has_perm("members.view_pointsadjustment"),
                    },
                    {
                        "title": _("Growth value adjustments"),
                        "icon": "trending_up",
                        "link": reverse_lazy("admin:members_growthadjustment_changelist"),
                        "permission": lambda request: request.user.has_perm("members.view_growthadjustment"),
                    },
                    {
                        "title": _("Tier assignments"),
                        "icon": "workspace_premium",
                        "link": reverse_lazy("admin:members_tierassignment_changelist"),
                        "permission": lambda request: request.user.has_perm("members.view_tierassignment"),
                    },
                    {
                        "title": _("Possible duplicates"),
                        "icon": "join",
                        "link": reverse_lazy("admin:members_duplicatecandidate_changelist"),
                        "permission": lambda request: request.user.has_perm("members.view_duplicatecandidate"),
                    },
                    {
                        "title": _("Member merges"),
                        "icon": "merge",
                        "link": reverse_lazy("admin:members_membermerge_changelist"),
                        "permission": lambda request: request.user.has_perm("members.view_membermerge"),
                    },
                ],
            },
            {
                "title": _("Campaigns"),
                "items": [
                    {
                        "title": _("Segments"),
                        "icon": "filter_alt",
                        "link": reverse_lazy("admin:campaigns_segment_changelist"),
                        "permission": lambda request: request.user.has_perm("campaigns.view_segment"),
                    },
                    {
                        "title": _("Campaigns"),
                        "icon": "campaign",
                        "link": reverse_lazy("admin:campaigns_campaign_changelist"),
                        "permission": lambda request: request.user.has_perm("campaigns.view_campaign"),
                    },
                    {
                        "title": _("Campaign runs"),
                        "icon": "monitoring",
                        "link": reverse_lazy("admin:campaigns_campaignrun_changelist"),
                        "permission": lambda request: request.user.has_perm("campaigns.view_campaignrun"),
                    },
                    {
                        "title": _("Referrals"),
                        "icon": "group_add",
                        "link": reverse_lazy("admin:campaigns_referral_changelist"),
                        "permission": lambda request: request.user.has_perm("campaigns.view_referral"),
                    },
                    {
                        "title": _("Journeys"),
                        "icon": "route",
                        "link": reverse_lazy("admin:journeys_journey_changelist"),
                        "permission": lambda request: request.user.has_perm("journeys.view_journey"),
                    },
                ],
            },
            {
                "title": _("Behaviour rewards"),
                "items": [
                    {
                        "title": _("Earning rules"),
                        "icon": "rule_settings",
                        "link": reverse_lazy("admin:rules_earningrule_changelist"),
                        "permission": lambda request: request.user.has_perm("rules.view_earningrule"),
                    },
                    {
                        "title": _("Rule awards and review"),
                        "icon": "fact_check",
                        "link": reverse_lazy("admin:rules_ruleaward_changelist"),
                        "permission": lambda request: request.user.has_perm("rules.view_ruleaward"),
                    },
                    {
                        "title": _("Tasks"),
                        "icon": "task_alt",
                        "link": reverse_lazy("admin:engagement_task_changelist"),
                        "permission": lambda request: request.user.has_perm("engagement.view_task"),
                    },
                    {
                        "title": _("Activity kinds"),
                        "icon": "category",
                        "link": reverse_lazy("admin:analytics_registeredactivitykind_changelist"),
                        "permission": lambda request: request.user.has_perm("analytics.view_registeredactivitykind"),
                    },
                    {
                        "title": _("Velocity limits"),
                        "icon": "speed",
                        "link": reverse_lazy("admin:abuse_velocitylimit_changelist"),
                        "permission": lambda request: request.user.has_perm("abuse.view_velocitylimit"),
                    },
                    {
                        "title": _("Blocklist"),
                        "icon": "block",
                        "link": reverse_lazy("admin:abuse_blockentry_changelist"),
                        "permission": lambda request: request.user.has_perm("abuse.view_blockentry"),
                    },
                ],
            },
            {
                "title": _("Analytics"),
                "items": [
                    {
                        "title": _("Analytics dashboard"),
                        "icon": "insights",
                        "link": reverse_lazy("admin:analytics_dailymetric_changelist"),
                        "permission": lambda request: request.user.has_perm("analytics.view_dailymetric"),
                    },
                    {
                        "title": _("Activity log"),
                        "icon": "timeline",
                        "link": reverse_lazy("admin:analytics_activityevent_changelist"),
                        "permission": lambda request: request.user.has_perm("analytics.view_activityevent"),
                    },
                    {
                        "title": _("RFM scores"),
                        "icon": "scoreboard",
                        "link": reverse_lazy("admin:analytics_rfmscore_changelist"),
                        "permission": lambda request: request.user.has_perm("analytics.view_rfmscore"),
                    },
                    {
                        "title": _("Journey analytics"),
                        "icon": "conversion_path",
                        "link": reverse_lazy("admin:lifecycle_journeyreport_changelist"),
                        "permission": lambda request: request.user.has_perm("lifecycle.view_journeyreport"),
                    },
                    {
                        "title": _("Lifecycle thresholds"),
                        "icon": "tune",
                        "link": reverse_lazy("admin:lifecycle_lifecyclesettings_changelist"),
                        "permission": lambda request: request.user.has_perm("lifecycle.view_lifecyclesettings"),
                    },
                ],
            },
            {
                "title": _("Messages"),
                "items": [
                    {
                        "title": _("Outbox"),
                        "icon": "outbox",
                        "link": reverse_lazy("admin:messaging_message_changelist"),
                        "permission": lambda request: request.user.has_perm("messaging.view_message"),
                    },
                    {
                        "title": _("Message templates"),
                        "icon": "description",
                        "link": reverse_lazy("admin:messaging_messagetemplate_changelist"),
                        "permission": lambda request: request.user.has_perm("messaging.view_messagetemplate"),
                    },
                    {
                        "title": _("Channel identities"),
                        "icon": "badge",
                        "link": reverse_lazy("admin:identities_channelidentity_changelist"),
                        "permission": lambda request: request.user.has_perm("identities.view_channelidentity"),
                    },
                ],
            },
            {
                "title": _("Trust"),
                "items": [
                    {
                        "title": _("Access log"),
                        "icon": "policy",
                        "link": reverse_lazy("admin:core_accesslogentry_changelist"),
                        "permission": lambda request: request.user.has_perm("core.view_accesslogentry"),
                    },
                    {
                        "title": _("Failed tasks"),
                        "icon": "error",
                        "link": reverse_lazy("admin:core_failedtask_changelist"),
                        "permission": lambda request: request.user.has_perm("core.view_failedtask"),
                    },
                    {
                        "title": _("Webhook endpoints"),
                        "icon": "webhook",
                        "link": reverse_lazy("admin:webhooks_webhookendpoint_changelist"),
                        "permission": lambda request: request.user.has_perm("webhooks.view_webhookendpoint"),
                    },
                ],
            },
        ],
    },
}

# django-import-export (the benefit catalogue): importing needs the change permission, exporting the view
# permission. The catalogue's own formats (apps/core/spreadsheet.py) neutralise formulas so that they read back
# unchanged; the library's escaping, which drops a leading "=", stays on only for any other format.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "change"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True
IMPORT_EXPORT_USE_TRANSACTIONS = True

# Periodic jobs, kept in django-celery-beat by ``manage.py setup_periodic_tasks`` (staff never edit them by hand).
# Crontab fields: minute hour day_of_month month_of_year day_of_week, in TIME_ZONE.
USEROPS_PERIODIC_TASKS = {
    "Expire points": {"task": "members.expire_points", "crontab": "10 0 * * *"},
    "Evaluate tiers": {"task": "members.evaluate_tiers", "crontab": "30 2 * * *"},
    "Purge idempotency records": {"task": "core.purge_idempotency_records", "crontab": "0 4 * * *"},
    "Purge old import files": {"task": "imports.purge_files", "crontab": "20 4 * * *"},
    "Send due messages": {"task": "messaging.send_due", "crontab": "* * * * *"},
    "Resume stalled campaign runs": {"task": "campaigns.resume_stalled", "crontab": "*/5 * * * *"},
    "Process campaign triggers": {"task": "campaigns.process_triggers", "crontab": "*/5 * * * *"},
    "Expire benefit grants": {"task": "benefits.expire_grants", "crontab": "5 0 * * *"},
    "Grant tier benefits on promotion": {"task": "benefits.grant_promotion_benefits", "crontab": "*/5 * * * *"},
    "Grant recurring tier benefits": {"task": "benefits.grant_recurring_tier_benefits", "crontab": "0 6 * * *"},
    "Issue pending grants": {"task": "benefits.issue_pending_grants", "crontab": "* * * * *"},
    "Mark event no-shows": {"task": "events.mark_no_shows", "crontab": "*/15 * * * *"},
    "Send event reminders": {"task": "events.send_reminders", "crontab": "*/15 * * * *"},
    "Send expiry reminders": {"task": "reminders.send_due", "crontab": "0 10 * * *"},
    "Roll up activity": {"task": "analytics.rollup", "crontab": "7 * * * *"},
    "Score members (RFM)": {"task": "analytics.score_rfm", "crontab": "40 3 * * *"},
    "Deliver webhooks": {"task": "webhooks.dispatch", "crontab": "* * * * *"},
    "Tick journeys": {"task": "journeys.tick", "crontab": "* * * * *"},
    "Keep auto-tags in step": {"task": "tagging.sync_auto_tags", "crontab": "*/15 * * * *"},
    "Find duplicate members": {"task": "members.find_duplicates", "crontab": "50 3 * * *"},
    "Compute lifecycle stages": {"task": "lifecycle.compute_stages", "crontab": "10 4 * * *"},
    "Escalate overdue feedback": {"task": "feedback.escalate_overdue", "crontab": "*/10 * * * *"},
    "Maintain monthly partitions": {"task": "core.maintain_partitions", "crontab": "25 1 * * *"},
}

# Events: the channels registrants are told on (waitlist promotion, cancellation, reminder) and how long
# before the start the reminder goes out.
USEROPS_EVENTS = {
    "NOTIFY_CHANNELS": env.list("USEROPS_EVENT_NOTIFY_CHANNELS", default=["sms"]),
    "REMINDER_HOURS_BEFORE": env.int("USEROPS_EVENT_REMINDER_HOURS_BEFORE", default=24),
    # Tickets are accepted from this many hours before the start until the event ends (docs/events.md).
    "CHECK_IN_OPENS_HOURS_BEFORE": env.int("USEROPS_EVENT_CHECK_IN_OPENS_HOURS_BEFORE", default=2),
}

# Campaigns: members per chunk of a run; the frequency cap (at most N campaign actions per member in D days,
# across campaigns); how long a run may go without progress before it is queued again.
USEROPS_CAMPAIGNS = {
    "CHUNK_SIZE": env.int("USEROPS_CAMPAIGN_CHUNK_SIZE", default=5000),
    "FREQUENCY_CAP": env.int("USEROPS_CAMPAIGN_FREQUENCY_CAP", default=4),
    "FREQUENCY_CAP_DAYS": env.int("USEROPS_CAMPAIGN_FREQUENCY_CAP_DAYS", default=30),
    "STALLED_AFTER_MINUTES": env.int("USEROPS_CAMPAIGN_STALLED_AFTER_MINUTES", default=10),
}

# Journeys: how many due members one step handles per transaction.
USEROPS_JOURNEYS = {
    "CHUNK_SIZE": env.int("USEROPS_JOURNEY_CHUNK_SIZE", default=10000),
}

# Member import: files with more rows than the threshold go to a background job with a progress page; rows are
# written a chunk per transaction (a killed job resumes after its last chunk).
USEROPS_IMPORTS = {
    "BACKGROUND_THRESHOLD_ROWS": env.int("USEROPS_IMPORT_BACKGROUND_THRESHOLD_ROWS", default=5000),
    "CHUNK_SIZE": env.int("USEROPS_IMPORT_CHUNK_SIZE", default=5000),
    # Uploaded customer files and their error reports name many people: deleted this long after upload.
    "FILE_RETENTION_DAYS": env.int("USEROPS_IMPORT_FILE_RETENTION_DAYS", default=30),
}

# Tag jobs, auto-tag rules and attribute files: members per chunk (one transaction each).
USEROPS_TAGGING = {
    "CHUNK_SIZE": env.int("USEROPS_TAGGING_CHUNK_SIZE", default=5000),
}

# Uploaded workbooks (member import, benefit catalogue) are refused before parsing beyond these bounds.
USEROPS_SPREADSHEETS = {
    "MAX_UNPACKED_MB": env.int("USEROPS_XLSX_MAX_UNPACKED_MB", default=64),
    "MAX_PARTS": env.int("USEROPS_XLSX_MAX_PARTS", default=200),
    "MAX_COMPRESSION_RATIO": env.int("USEROPS_XLSX_MAX_COMPRESSION_RATIO", default=100),
}

# Referrals: points for both sides, which actions qualify, how soon after enrolment a code may be attached,
# and how many rewarded referrals a referrer may have per calendar month.
USEROPS_REFERRALS = {
    "REFERRER_POINTS": env.int("USEROPS_REFERRAL_REFERRER_POINTS", default=2000),
    "REFEREE_POINTS": env.int("USEROPS_REFERRAL_REFEREE_POINTS", default=500),
    "QUALIFYING_ACTIONS": env.list("USEROPS_REFERRAL_QUALIFYING_ACTIONS", default=["first_purchase", "first_event_attended"]),
    "ATTACH_WITHIN_HOURS": env.int("USEROPS_REFERRAL_ATTACH_WITHIN_HOURS", default=24),
    "MONTHLY_CAP_PER_REFERRER": env.int("USEROPS_REFERRAL_MONTHLY_CAP", default=10),
}

# Messaging (docs/messaging.md): the provider of each channel and each provider's settings; quiet hours (global and
# per channel, local time; empty or "off" switches them off); frequency caps per member (0 = none); the channel
# order per message kind; retries with exponential back-off.
EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("DJANGO_EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("DJANGO_EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("DJANGO_EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("DJANGO_EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("DJANGO_EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("DJANGO_EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("DJANGO_EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="UserOps <noreply@localhost>")
USEROPS_MESSAGING = {
    "CHANNEL_PROVIDERS": env.dict("USEROPS_MESSAGE_CHANNEL_PROVIDERS", default={"email": "email"}),
    "PROVIDERS": {
        "aliyun_sms": {
            "ACCESS_KEY_ID": env("USEROPS_ALIYUN_SMS_ACCESS_KEY_ID", default=""),
            "ACCESS_KEY_SECRET": env("USEROPS_ALIYUN_SMS_ACCESS_KEY_SECRET", default=""),
            "SIGN_NAME": env("USEROPS_ALIYUN_SMS_SIGN_NAME", default=""),
            "ENDPOINT": env("USEROPS_ALIYUN_SMS_ENDPOINT", default="https://dysmsapi.aliyuncs.com"),
            "TIMEOUT": env.float("USEROPS_ALIYUN_SMS_TIMEOUT", default=10.0),
            "RECEIPT_TOKEN": env("USEROPS_ALIYUN_SMS_RECEIPT_TOKEN", default=""),
        },
        "tencent_sms": {
            "SECRET_ID": env("USEROPS_TENCENT_SMS_SECRET_ID", default=""),
            "SECRET_KEY": env("USEROPS_TENCENT_SMS_SECRET_KEY", default=""),
            "SDK_APP_ID": env("USEROPS_TENCENT_SMS_SDK_APP_ID", default=""),
            "SIGN_NAME": env("USEROPS_TENCENT_SMS_SIGN_NAME", default=""),
            "REGION": env("USEROPS_TENCENT_SMS_REGION", default="ap-guangzhou"),
            "ENDPOINT": env("USEROPS_TENCENT_SMS_ENDPOINT", default="https://sms.tencentcloudapi.com"),
            "TIMEOUT": env.float("USEROPS_TENCENT_SMS_TIMEOUT", default=10.0),
            "RECEIPT_TOKEN": env("USEROPS_TENCENT_SMS_RECEIPT_TOKEN", default=""),
        },
    },
    "QUIET_HOURS": env.list("USEROPS_QUIET_HOURS", default=["21:00", "08:00"]),
    "QUIET_HOURS_BY_CHANNEL": env.dict("USEROPS_QUIET_HOURS_BY_CHANNEL", default={}),
    "QUIET_HOURS_TIME_ZONE": env("USEROPS_QUIET_HOURS_TIME_ZONE", default=TIME_ZONE),
    "CAP_PER_DAY": env.int("USEROPS_MESSAGE_CAP_PER_DAY", default=0),
    "CAP_PER_WEEK": env.int("USEROPS_MESSAGE_CAP_PER_WEEK", default=0),
    "CAP_SERVICE_MESSAGES": env.bool("USEROPS_MESSAGE_CAP_SERVICE", default=False),
    "FALLBACK_ORDER": env.json("USEROPS_MESSAGE_FALLBACK_ORDER", default={}),
    "MAX_ATTEMPTS": env.int("USEROPS_MESSAGE_MAX_ATTEMPTS", default=5),
    "RETRY_BASE_SECONDS": env.int("USEROPS_MESSAGE_RETRY_BASE_SECONDS", default=60),
    "PUBLIC_BASE_URL": env("USEROPS_PUBLIC_BASE_URL", default="http://localhost:8000"),
    # How long a message's tracked link and open pixel count opens and clicks (docs/messaging.md, "Opens and clicks").
    "TRACKING_DAYS": env.int("USEROPS_MESSAGE_TRACKING_DAYS", default=180),
}

# WeChat and WeCom (docs/messaging.md, "WeChat and WeCom"): app IDs and secrets of the official account and the
# mini-program, the WeCom corp and its customer-contact secret. A channel left empty is reported as not configured
# (its messages fail with that reason); the API bases are settings so tests and proxies can point elsewhere.
USEROPS_WECHAT = {
    "API_BASE": env("USEROPS_WECHAT_API_BASE", default="https://api.weixin.qq.com"),
    "OFFICIAL_ACCOUNT_APP_ID": env("USEROPS_WECHAT_OA_APP_ID", default=""),
    "OFFICIAL_ACCOUNT_APP_SECRET": env("USEROPS_WECHAT_OA_APP_SECRET", default=""),
    "MINI_PROGRAM_APP_ID": env("USEROPS_WECHAT_MP_APP_ID", default=""),
    "MINI_PROGRAM_APP_SECRET": env("USEROPS_WECHAT_MP_APP_SECRET", default=""),
    # formal, trial or developer: which version of the mini-program a subscribe message opens.
    "MINI_PROGRAM_STATE": env("USEROPS_WECHAT_MP_STATE", default="formal"),
    "WECOM_API_BASE": env("USEROPS_WECOM_API_BASE", default="https://qyapi.weixin.qq.com"),
    "WECOM_CORP_ID": env("USEROPS_WECOM_CORP_ID", default=""),
    "WECOM_SECRET": env("USEROPS_WECOM_SECRET", default=""),
    "TIMEOUT_SECONDS": env.float("USEROPS_WECHAT_TIMEOUT_SECONDS", default=10.0),
}

# Reminders (docs/messaging.md): how many days ahead points and unused benefits (and a tier drop) are announced, and the channel
# for reminder kinds without a fallback order.
USEROPS_REMINDERS = {
    "POINTS_EXPIRING_DAYS": env.int("USEROPS_REMINDER_POINTS_EXPIRING_DAYS", default=7),
    "BENEFITS_EXPIRING_DAYS": env.int("USEROPS_REMINDER_BENEFITS_EXPIRING_DAYS", default=3),
    "TIER_DROPPING_DAYS": env.int("USEROPS_REMINDER_TIER_DROPPING_DAYS", default=14),
    "CHANNEL": env("USEROPS_REMINDER_CHANNEL", default="sms"),
}

# Analytics (docs/metrics.md): the day boundary's time zone; purchase earning (points and growth value per yuan,
# times the member's tier multiplier); the RFM window; how long after a
# campaign action counts as a conversion; how far back each roll-up re-reads events, to catch slow commits.
# Monthly partitions on PostgreSQL (docs/operations.md, "Partitions"): months created ahead by the nightly job, and per
# table the months kept before a partition is detached into the partition_archive schema (0: kept for ever; else at
# least 6). The access log is kept three years by default; activity events for ever (first-of-kind earning rules and
# lifetime revenue read a member's whole history).
USEROPS_PARTITIONS = {
    "MONTHS_AHEAD": env.int("USEROPS_PARTITION_MONTHS_AHEAD", default=3),
    "RETENTION_MONTHS": {
        "core_accesslogentry": env.int("USEROPS_ACCESS_LOG_RETENTION_MONTHS", default=36),
        "analytics_activityevent": env.int("USEROPS_ACTIVITY_RETENTION_MONTHS", default=0),
    },
}

USEROPS_ANALYTICS = {
    "TIME_ZONE": env("USEROPS_ANALYTICS_TIME_ZONE", default=TIME_ZONE),
    "POINTS_PER_YUAN": env("USEROPS_POINTS_PER_YUAN", default="1"),
    "GROWTH_PER_YUAN": env("USEROPS_GROWTH_PER_YUAN", default="1"),
    "RFM_WINDOW_DAYS": env.int("USEROPS_RFM_WINDOW_DAYS", default=365),
    "CONVERSION_WINDOW_DAYS": env.int("USEROPS_CONVERSION_WINDOW_DAYS", default=14),
    "ROLLUP_OVERLAP_MINUTES": env.int("USEROPS_ROLLUP_OVERLAP_MINUTES", default=15),
    "MAX_BATCH": 1000,
}

# Webhooks out (docs/webhooks.md): request timeout, the retry schedule (first retry, doubling, capped; given up after
# the period), how many requests one sender posts at once, and whether http:// and localhost targets are accepted
# (tests, ``make run``; never in production: they would let an endpoint reach our own network).
USEROPS_WEBHOOKS = {
    "TIMEOUT_SECONDS": env.float("USEROPS_WEBHOOK_TIMEOUT_SECONDS", default=10.0),
    "FIRST_RETRY_SECONDS": env.int("USEROPS_WEBHOOK_FIRST_RETRY_SECONDS", default=30),
    "MAX_RETRY_INTERVAL_SECONDS": env.int("USEROPS_WEBHOOK_MAX_RETRY_INTERVAL_SECONDS", default=3600),
    "RETRY_PERIOD_HOURS": env.int("USEROPS_WEBHOOK_RETRY_PERIOD_HOURS", default=24),
    "CONCURRENCY": env.int("USEROPS_WEBHOOK_CONCURRENCY", default=16),
    "BATCH_SIZE": env.int("USEROPS_WEBHOOK_BATCH_SIZE", default=500),
    "FAN_OUT_CHUNK": env.int("USEROPS_WEBHOOK_FAN_OUT_CHUNK", default=2000),
    "DISPATCH_SECONDS": env.int("USEROPS_WEBHOOK_DISPATCH_SECONDS", default=50),
    "ALLOW_LOCAL_URLS": env.bool("USEROPS_WEBHOOK_ALLOW_LOCAL_URLS", default=DEBUG),
}
