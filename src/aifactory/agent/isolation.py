"""Local jobs run as an unprivileged account that cannot reach the portal's files.

When the agent runs as root (as `aifactory run` does on a fresh machine), the commands of each local job run as
one unprivileged account (JOB_USER, created if it is missing: a system account with no login shell and no home),
in the job's own working folder `work/`, which only that account may write. The job's record (user.sh, meta.json,
env.json, exit_code, ...) stays root's: user.sh is readable, nothing is writable, and the job folder can be
traversed but not listed.

The portal's data folder (`secure_data_dir`) is made traversable but not listable (0711), and everything in it but
the sites' job folders is made private (files 0600, folders 0700): the database, the site tokens, anything else.
`aifactory run` starts the portal and the agent under umask 077, so that what they create later (SQLite journals,
new tokens) is private as well.

Not root: jobs run as the agent's own account, which can read what the agent can; `aifactory run` says so when
it starts.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

JOB_USER = "aifactory-job"


class IsolationError(Exception):
    """The job account cannot be found, made, or used."""


@dataclass(frozen=True)
class JobAccount:
    name: str
    uid: int
    gid: int

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "uid": self.uid, "gid": self.gid}


def job_account(name: str = JOB_USER, *, create: bool = False) -> JobAccount:
    """The account local jobs run as; made when `create` and missing (root only). It must not be root."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        if not create:
            raise IsolationError(f"there is no account {name!r} to run jobs as") from None
        _create(name)
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise IsolationError(f"account {name!r} was not created") from None
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise IsolationError(f"account {name!r} is root's: jobs must run unprivileged")
    return JobAccount(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid)


def _create(name: str) -> None:
    if os.geteuid() != 0:
        raise IsolationError(f"only root can create the account {name!r} that local jobs run as")
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    nologin = shutil.which("nologin") or "/usr/sbin/nologin"
    result = subprocess.run(
        [useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", nologin,
         name],
        capture_output=True, text=True, check=False,
    )
    if result.returncode not in (0, 9):  # 9: the name exists (made meanwhile)
        raise IsolationError(f"useradd {name} failed: {result.stderr.strip() or result.returncode}")


def can_switch_user() -> bool:
    return os.geteuid() == 0


def traversable_by_others(path: Path) -> bool:
    """Whether an account that is neither the owner nor in the group can reach `path` (x on every folder above)."""
    for folder in [Path(path).resolve(), *Path(path).resolve().parents]:
        if folder.exists() and not folder.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def job_root_for(data_dir: Path, site: str) -> Path:
    """Where the job account's working folders go: in the site's folder when the job account can reach it, else in
    a folder of the system's temporary folder named after the data folder (the data folder may sit in a private
    place, such as a home folder)."""
    site_jobs = Path(data_dir) / f"site-{site}" / "jobs"
    if traversable_by_others(Path(data_dir).parent):
        return site_jobs
    digest = hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"aifactory-jobs-{digest}" / site


def secure_data_dir(data_dir: Path, *, shared: Iterable[Path] = ()) -> None:
    """Make the portal's data folder traversable only, and everything in it private but the `shared` folders
    (the sites' job folders), which are made traversable only as well."""
    data_dir = Path(data_dir)
    keep = {Path(p).resolve() for p in shared}
    data_dir.chmod(0o711)
    for entry in data_dir.iterdir():
        if entry.resolve() in keep:
            entry.chmod(0o711)
            continue
        _private(entry)


def _private(path: Path) -> None:
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return
    if stat.S_ISDIR(mode):
        path.chmod(0o700)
        for child in path.iterdir():
            _private(child)
    else:
        path.chmod(stat.S_IMODE(mode) & 0o700)
