"""Portal settings, all from the environment. SQLite file by default; PostgreSQL when DATABASE_URL is set."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("AIFACTORY_DATA_DIR", Path.cwd() / "var")).resolve()

DEBUG = os.environ.get("AIFACTORY_DEBUG", "0") == "1"
SECRET_KEY = os.environ.get("AIFACTORY_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and os.environ.get("AIFACTORY_REQUIRE_SECRET") == "1":
        raise RuntimeError("AIFACTORY_SECRET_KEY must be set")
    SECRET_KEY = "insecure-local-only-" + str(DATA_DIR)
ALLOWED_HOSTS = [h for h in os.environ.get("AIFACTORY_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("AIFACTORY_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",  # the API docs load Swagger UI from the package's static files, not from a CDN
    "aifactory.portal.federation",
    "aifactory.portal.organisations",
    "aifactory.portal.access",
    "aifactory.portal.allocations",
    "aifactory.portal.siteaccess",
    "aifactory.portal.jobs",
    "aifactory.portal.review",
    "aifactory.portal.support",
    "aifactory.portal.matchmaking",
    "aifactory.portal.obligations",
    "aifactory.portal.funding",
    "aifactory.portal.monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "aifactory.portal.common.middleware.RefusalMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "aifactory.portal.urls"
WSGI_APPLICATION = "aifactory.portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "aifactory.portal.pages.context.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{DATA_DIR / 'aifactory.sqlite3'}",
        conn_max_age=int(os.environ.get("AIFACTORY_DB_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update({"timeout": 20, "transaction_mode": "IMMEDIATE"})

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/dashboard/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# Only for collectstatic; whitenoise serves the files from the package.
STATIC_ROOT = os.environ.get("AIFACTORY_STATIC_ROOT") or None
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

# Scheduler accounts are named <prefix>-p<application id>; one prefix per portal sharing a cluster.
ACCOUNT_PREFIX = os.environ.get("AIFACTORY_ACCOUNT_PREFIX", "aif")

# Routing of Fast Lane projects: the share of each machine's GPU-hours over a year offered to the access modes
# (this portal's policy figure); what active allocations hold already is taken off.
ACCESS_SHARE = float(os.environ.get("AIFACTORY_ACCESS_SHARE", "0.05"))

# An agent that has not reported for this long is taken as lost.
AGENT_STALE_AFTER_S = int(os.environ.get("AIFACTORY_AGENT_STALE_AFTER_S", "120"))

# Mail: SMTP when AIFACTORY_EMAIL_HOST is set, otherwise written to the console.
EMAIL_HOST = os.environ.get("AIFACTORY_EMAIL_HOST", "")
EMAIL_PORT = int(os.environ.get("AIFACTORY_EMAIL_PORT", "25"))
EMAIL_BACKEND = os.environ.get(
    "AIFACTORY_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = os.environ.get("AIFACTORY_EMAIL_FROM", "aifactory <noreply@localhost>")

# Support centres: first answer due within this many working days where a centre has set none (this portal's
# policy figure; no public source gives one).
SUPPORT_FIRST_ANSWER_WORKING_DAYS = int(os.environ.get("AIFACTORY_SUPPORT_FIRST_ANSWER_WORKING_DAYS", "3"))

# The broker's size limits (from 90 days of jobs) are kept this many seconds per worker process: at most this stale.
SIZE_LIMITS_TTL_S = float(os.environ.get("AIFACTORY_SIZE_LIMITS_TTL_S", "60"))

# The federation's SSH user CA (an OpenSSH private key file, created on first use when missing) and the lifetime of
# the certificates it signs: a member asks for up to SSH_CERT_MAX_HOURS, SSH_CERT_DEFAULT_HOURS when they do not say.
SSH_CA_KEY_FILE = os.environ.get("AIFACTORY_SSH_CA_KEY", str(DATA_DIR / "ssh_user_ca"))
SSH_CERT_DEFAULT_HOURS = float(os.environ.get("AIFACTORY_SSH_CERT_DEFAULT_HOURS", "8"))
SSH_CERT_MAX_HOURS = float(os.environ.get("AIFACTORY_SSH_CERT_MAX_HOURS", "24"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"refusals": {"()": "aifactory.portal.common.logging.RefusalsWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["refusals"]}},
    "loggers": {"django.request": {"filters": ["refusals"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("AIFACTORY_LOG_LEVEL", "WARNING")},
}
