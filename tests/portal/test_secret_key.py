"""The key Django signs sessions with: AIFACTORY_SECRET_KEY, or else a random one made once and kept in the data
dir, never one that can be derived from where the portal runs."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

READ_KEY = "from django.conf import settings; import django; django.setup(); print(settings.SECRET_KEY)"


def key_of(data_dir: Path, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("AIFACTORY_SECRET_KEY", "AIFACTORY_REQUIRE_SECRET")}
    environ.update(AIFACTORY_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="aifactory.portal.settings", **env)
    done = subprocess.run([sys.executable, "-c", READ_KEY], env=environ, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_random_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = key_of(tmp_path / "a")
    assert len(first) >= 50 and str(tmp_path) not in first
    assert key_of(tmp_path / "a") == first  # kept across restarts
    assert key_of(tmp_path / "b") != first  # another installation, another key
    kept = tmp_path / "a" / "secret_key"
    assert kept.read_text() == first and stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["secret_key"]  # no leftovers


def test_processes_starting_at_once_agree(tmp_path: Path) -> None:
    with ThreadPoolExecutor(4) as pool:
        keys = set(pool.map(lambda _: key_of(tmp_path), range(4)))
    assert len(keys) == 1


def test_the_environment_s_key_wins_and_nothing_is_written(tmp_path: Path) -> None:
    assert key_of(tmp_path, AIFACTORY_SECRET_KEY="k" * 60) == "k" * 60
    assert not (tmp_path / "secret_key").exists()


def test_an_unwritable_data_dir_still_starts(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert len(key_of(tmp_path / "file" / "below")) >= 50  # a key for the process, and a word on stderr
