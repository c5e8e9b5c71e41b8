"""Portal settings, all from the environment. SQLite file by default; PostgreSQL when DATABASE_URL is set."""

from __future__ import annotations

import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("AIFACTORY_DATA_DIR", Path.cwd() / "var")).resolve()

DEBUG = os.environ.get("AIFACTORY_DEBUG", "0") == "1"


def _kept_secret_key(data_dir: Path) -> str:
    """A random key made once and kept in the data dir (`secret_key`, mode 0600), so that sessions outlive a restart
    and every process of one installation signs alike. Processes starting at once agree: each writes its own file and
    links it into place, and the first link wins. A data dir that cannot be written gives a key for this process only
    (sessions then end with it), and says so."""
    path = data_dir / "secret_key"
    try:
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            mine = data_dir / f".secret_key.{os.getpid()}"
            descriptor = os.open(mine, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as out:
                out.write(secrets.token_urlsafe(50))
            try:
                os.link(mine, path)
            except FileExistsError:
                pass  # another process was first: its key is the one
            finally:
                mine.unlink()
        key = path.read_text().strip()
        if len(key) >= 50:
            return key
        print(f"aifactory: {path} holds no usable key; using one for this process only", file=sys.stderr)
    except OSError as exc:
        print(f"aifactory: cannot keep a secret key in {data_dir} ({exc}); using one for this process only",
              file=sys.stderr)
    return secrets.token_urlsafe(50)


SECRET_KEY = os.environ.get("AIFACTORY_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and os.environ.get("AIFACTORY_REQUIRE_SECRET") == "1":
        raise RuntimeError("AIFACTORY_SECRET_KEY must be set")
    SECRET_KEY = _kept_secret_key(DATA_DIR)
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
    "django_tasks",
    "django_tasks_db",
    "aifactory.portal.periodic",
    "aifactory.portal.mail",
    "aifactory.portal.federation",
    "aifactory.portal.organisations",
    "aifactory.portal.access",
    "aifactory.portal.allocations",
    "aifactory.portal.siteaccess",
    "aifactory.portal.jobs",
    "aifactory.portal.runs",
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

# Managed runs (aifactory.portal.runs): each segment has a lease its site's agent renews at every pass; a segment
# stops (checkpoints and exits) when its lease is not renewed for RUN_LEASE_S. The portal starts the next segment
# elsewhere only when LEASE_GRACE_S more have passed since the agent's last report. A run fails after
# RUN_MAX_FAILED_SEGMENTS segments in a row end without progress.
RUN_LEASE_S = int(os.environ.get("AIFACTORY_RUN_LEASE_S", "300"))
LEASE_GRACE_S = int(os.environ.get("AIFACTORY_LEASE_GRACE_S", "60"))
RUN_MAX_FAILED_SEGMENTS = int(os.environ.get("AIFACTORY_RUN_MAX_FAILED_SEGMENTS", "3"))

# Background work (mail delivery, failover, reminders) runs on django-tasks with its database backend: the queue is a
# table in the portal's own database (PostgreSQL or SQLite). `django-admin tasks_worker` is its worker with the
# periodic tasks' scheduler beside it (`aifactory run` starts one; production runs several).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# How often each worker's scheduler looks for periodic tasks that are due (seconds).
PERIODIC_TICK_S = float(os.environ.get("AIFACTORY_PERIODIC_TICK_S", "2"))
# A task still running this long after it started, whose worker has not said it is alive for as long, was abandoned
# (its worker was killed): `periodic.recover` gives it back to the queue (seconds).
TASK_ABANDONED_AFTER_S = float(os.environ.get("AIFACTORY_TASK_ABANDONED_AFTER_S", "120"))
# How often the failover task runs (seconds): jobs waiting on a lost site move within AGENT_STALE_AFTER_S plus this.
FAILOVER_EVERY_S = float(os.environ.get("AIFACTORY_FAILOVER_EVERY_S", "10"))
# How long a job's Idempotency-Key is kept (hours): a resend within it answers with the job; the hourly
# `jobs.forget_idempotency_keys` task forgets older keys, so the same key may then make a new job.
IDEMPOTENCY_KEEP_H = float(os.environ.get("AIFACTORY_IDEMPOTENCY_KEEP_H", "24"))

# E-mail through Django's mail framework. Without AIFACTORY_EMAIL_HOST, messages are written as files into
# AIFACTORY_MAIL_DIR (default: <data dir>/mail); with it, they go to that SMTP server.
EMAIL_HOST = os.environ.get("AIFACTORY_EMAIL_HOST", "")
EMAIL_PORT = int(os.environ.get("AIFACTORY_EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("AIFACTORY_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("AIFACTORY_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("AIFACTORY_EMAIL_TLS", "0") == "1"
EMAIL_TIMEOUT = float(os.environ.get("AIFACTORY_EMAIL_TIMEOUT_S", "10"))
EMAIL_FILE_PATH = os.environ.get("AIFACTORY_MAIL_DIR", str(DATA_DIR / "mail"))
EMAIL_BACKEND = os.environ.get("AIFACTORY_EMAIL_BACKEND") or (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.filebased.EmailBackend"
)
# The portal's address as people reach it, for the links in e-mails sent by background work.
PUBLIC_URL = os.environ.get("AIFACTORY_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
DEFAULT_FROM_EMAIL = os.environ.get("AIFACTORY_EMAIL_FROM", "aifactory <noreply@localhost>")
# A failed delivery is tried again after MAIL_RETRY_BASE_S, doubling, up to MAIL_MAX_ATTEMPTS attempts in all.
MAIL_MAX_ATTEMPTS = int(os.environ.get("AIFACTORY_MAIL_MAX_ATTEMPTS", "8"))
MAIL_RETRY_BASE_S = float(os.environ.get("AIFACTORY_MAIL_RETRY_BASE_S", "30"))

# Federated login through OpenID Connect (MyAccessID in production): off unless an issuer and a client are given.
# The local password stays for `make run` and for staff.
OIDC_ISSUER = os.environ.get("AIFACTORY_OIDC_ISSUER", "")
OIDC_CLIENT_ID = os.environ.get("AIFACTORY_OIDC_CLIENT_ID", "")
OIDC_CLIENT_SECRET = os.environ.get("AIFACTORY_OIDC_CLIENT_SECRET", "")
OIDC_SCOPES = os.environ.get("AIFACTORY_OIDC_SCOPES", "openid email profile eduperson_assurance eduperson_entitlement")
OIDC_PROVIDER_NAME = os.environ.get("AIFACTORY_OIDC_NAME", "MyAccessID")
# Clock skew tolerated on the ID token's times.
OIDC_LEEWAY_S = int(os.environ.get("AIFACTORY_OIDC_LEEWAY_S", "30"))

# A team invitation's link is valid this long.
INVITATION_TTL = timedelta(hours=float(os.environ.get("AIFACTORY_INVITATION_TTL_H", "72")))

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
# A person is e-mailed once when their certificate expires within this many hours (the periodic task
# siteaccess.certificate_expiry, every 5 minutes). One hour is an eighth of the default lifetime: time to save work
# or sign a new certificate, late enough not to announce a certificate just signed. A certificate whose whole
# lifetime is at most twice the window gets no notice.
SSH_CERT_EXPIRY_NOTICE_H = float(os.environ.get("AIFACTORY_SSH_CERT_EXPIRY_NOTICE_H", "1"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"refusals": {"()": "aifactory.portal.common.logging.RefusalsWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["refusals"]}},
    "loggers": {"django.request": {"filters": ["refusals"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("AIFACTORY_LOG_LEVEL", "WARNING")},
}
