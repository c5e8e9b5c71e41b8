from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from aifactory.portal.federation.models import Site
from aifactory.portal.federation.selectors import site_by_token


def test_add_site_writes_the_token_to_a_file(machines: object, tmp_path: Path) -> None:
    out = StringIO()
    token_file = tmp_path / "t.token"
    call_command("add_site", "jupiter-a", "jupiter", "--backend", "slurm", "--personal-accounts", "--token-file",
                 str(token_file), stdout=out)
    site = Site.objects.get(name="jupiter-a")
    assert site.personal_accounts and site.machine.key == "jupiter"
    assert site_by_token(token_file.read_text()) == site
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert token_file.read_text() not in out.getvalue()
    with pytest.raises(CommandError, match="exists already"):
        call_command("add_site", "jupiter-a", "jupiter", "--token-file", str(tmp_path / "u"))
    with pytest.raises(CommandError, match="unknown machine"):
        call_command("add_site", "x-a", "nosuch", "--token-file", str(tmp_path / "v"))
