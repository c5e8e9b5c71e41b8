"""First-run set-up shared by `aifactory run` and `aifactory demo`: schema, catalog, a site and a demo login."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEMO_USER = "demo"
DEMO_PASSWORD = "aifactory-demo"


@dataclass(frozen=True)
class Bootstrap:
    site: str
    machine: str
    token_file: Path


def setup_django(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["AIFACTORY_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aifactory.portal.settings")
    import django

    django.setup()


def bootstrap(*, data_dir: Path, site: str, machine: str, backend: str) -> Bootstrap:
    """Migrate, load the catalog, make sure the site exists with a token on disk, and a demo user."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from aifactory.portal.federation.models import Site
    from aifactory.portal.federation.services import catalog_sync, site_create, site_rotate_token
    from aifactory.portal.support.services import centres_sync

    call_command("migrate", interactive=False, verbosity=0)
    catalog_sync()
    centres_sync()
    token_file = data_dir / f"agent-{site}.token"
    existing = Site.objects.filter(name=site).first()
    if existing is None:
        _, token = site_create(name=site, machine_key=machine, backend=backend)
    elif not token_file.exists():
        token = site_rotate_token(site=existing)
    else:
        token = ""
    if token:
        token_file.touch(mode=0o600, exist_ok=True)
        token_file.write_text(token, encoding="utf-8")
    user_model = get_user_model()
    if not user_model.objects.filter(username=DEMO_USER).exists():
        user_model.objects.create_user(username=DEMO_USER, password=DEMO_PASSWORD, email="demo@example.org")
    return Bootstrap(site=site, machine=machine, token_file=token_file)
