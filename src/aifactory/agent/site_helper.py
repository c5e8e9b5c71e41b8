"""The site's privileged helper: the one part of a site's agent that acts as root, behind a strict allow-list.

The agent runs as an ordinary service user who is a Slurm operator (sacctmgr, squeue, sacct, scancel for every
user). Two things need root, and only those go through this helper, which a site installs with one sudoers line:

    aifagent ALL=(root) NOPASSWD: /usr/local/bin/aifactory-site-helper

    aifactory-site-helper user-add NAME        create the POSIX user NAME (home under home_root, no password, in
                                               the managed group); a NAME that exists already must be in that group
    aifactory-site-helper user-lock NAME       close NAME: locked password and expired, so no new login or job
    aifactory-site-helper user-unlock NAME     open NAME again
    aifactory-site-helper sbatch --slurm-conf CONF NAME -- SBATCH-ARGUMENTS
                                               hand the job folder to NAME and run sbatch as NAME

Why not slurmrestd with JWT (FirecREST's way): it needs a REST daemon and the JWT key on every cluster, and a
token minted per user by SlurmUser; the helper needs neither and is small enough to read in one sitting. The
allow-list, each item checked before anything runs:

- NAME: `[a-z][a-z0-9]{2,31}`, not a name below uid 1000 or outside the managed group (so never root, a daemon's
  user or a person the site manages by hand);
- sbatch arguments: only the options the agent's Slurm backend writes (--parsable, --job-name=aif-<uid>,
  --comment=aif:<uid>, --account, --nodes, --time, --output and --chdir inside the job's folder, --no-requeue,
  --gres, --partition), and last the job folder's batch.sh; the folder is <workdir>/<32 hex digits>, with no
  links inside; the CONF is one of the configured slurm.conf files;
- sbatch runs with the person's uid, gid and groups (never a shell), with PATH, LANG, HOME and SLURM_CONF only.

Configuration: a JSON file owned by root, /etc/aifactory/site-helper.json by default:
    {"workdir": "/srv/aifactory/jobs", "group": "aifusers", "agent_group": "aifagent", "home_root": "/home",
     "shell": "/bin/bash", "slurm_confs": ["/etc/slurm/slurm.conf"]}
`--config FILE` is taken only from root itself, never through sudo (SUDO_UID set).
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import pwd
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CONFIG = "/etc/aifactory/site-helper.json"
NAME_RE = re.compile(r"^[a-z][a-z0-9]{2,31}$")
GROUP_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
HEX_UID = r"[0-9a-f]{32}"
MIN_UID = 1000
TIMEOUT_S = 60

_FIXED = {"--parsable", "--no-requeue"}
_PATTERNS = {
    "--job-name": re.compile(rf"^aif-{HEX_UID}$"),
    "--comment": re.compile(rf"^aif:{HEX_UID}$"),
    "--account": re.compile(r"^[a-z][a-z0-9_-]{1,62}$"),
    "--nodes": re.compile(r"^[1-9][0-9]{0,3}$"),
    "--time": re.compile(r"^[1-9][0-9]{0,5}$"),
    "--gres": re.compile(r"^[a-z][a-z0-9_]{0,31}:[0-9]{1,4}$"),
    "--partition": re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"),
}


class HelperError(Exception):
    """A refusal: the message says which item of the allow-list was not met."""


@dataclass(frozen=True)
class HelperConfig:
    workdir: Path
    group: str
    agent_group: str
    home_root: Path
    shell: str
    slurm_confs: tuple[str, ...]

    @classmethod
    def load(cls, path: str) -> HelperConfig:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise HelperError(f"cannot read the configuration {path}: {exc}") from None
        if not isinstance(data, dict):
            raise HelperError(f"{path} must hold a JSON object")
        try:
            config = cls(
                workdir=Path(str(data["workdir"])),
                group=str(data["group"]),
                agent_group=str(data["agent_group"]),
                home_root=Path(str(data.get("home_root", "/home"))),
                shell=str(data.get("shell", "/bin/bash")),
                slurm_confs=tuple(str(c) for c in data.get("slurm_confs", [])),
            )
        except KeyError as exc:
            raise HelperError(f"{path} lacks {exc.args[0]!r}") from None
        for folder in (config.workdir, config.home_root):
            if not folder.is_absolute():
                raise HelperError(f"{folder} must be an absolute path")
        for group in (config.group, config.agent_group):
            if not GROUP_RE.match(group):
                raise HelperError(f"group {group!r} is not a valid group name")
        return config


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise HelperError(f"user name {name!r} must be 3 to 32 lower-case letters and digits, starting with a letter")


def managed_user(config: HelperConfig, name: str) -> pwd.struct_passwd:
    """NAME exists, has a uid of at least 1000 and is in the managed group; else refused."""
    check_name(name)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise HelperError(f"user {name!r} does not exist") from None
    try:
        group = grp.getgrnam(config.group)
    except KeyError:
        raise HelperError(f"the managed group {config.group!r} does not exist") from None
    if entry.pw_uid < MIN_UID or (name not in group.gr_mem and entry.pw_gid != group.gr_gid):
        raise HelperError(f"user {name!r} is not one of the site accounts this helper manages")
    return entry


def _run(argv: Sequence[str]) -> None:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
                          stdin=subprocess.DEVNULL, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
    if done.returncode != 0:
        raise HelperError(f"{argv[0]} failed: {done.stderr.strip() or done.returncode}")


def user_add(config: HelperConfig, name: str) -> str:
    check_name(name)
    try:
        pwd.getpwnam(name)
    except KeyError:
        pass
    else:
        managed_user(config, name)
        return f"user {name} exists"
    try:
        grp.getgrnam(config.group)
    except KeyError:
        _run(["groupadd", config.group])
    _run(["useradd", "--create-home", "--home-dir", str(config.home_root / name), "--shell", config.shell,
          "--groups", config.group, "--password", "*", "--key", f"UID_MIN={MIN_UID}", name])
    return f"user {name} created"


def user_lock(config: HelperConfig, name: str) -> str:
    managed_user(config, name)
    _run(["usermod", "--lock", "--expiredate", "1", name])
    return f"user {name} locked"


def user_unlock(config: HelperConfig, name: str) -> str:
    managed_user(config, name)
    _run(["usermod", "--unlock", "--expiredate", "", name])
    return f"user {name} open"


def check_sbatch_args(config: HelperConfig, args: Sequence[str]) -> Path:
    """The job folder the arguments name, once every argument has met the allow-list."""
    if not args:
        raise HelperError("sbatch needs its arguments")
    *options, script = args
    root = config.workdir
    match = re.fullmatch(rf"{re.escape(str(root))}/({HEX_UID})/batch\.sh", script)
    if match is None:
        raise HelperError(f"the batch script must be {root}/<job uid>/batch.sh, not {script!r}")
    job_dir = root / match.group(1)
    seen: set[str] = set()
    for option in options:
        key, sep, value = option.partition("=")
        if key in seen:
            raise HelperError(f"sbatch option {key} given twice")
        seen.add(key)
        if option in _FIXED:
            continue
        if key in ("--output", "--chdir") and sep:
            want = str(job_dir / "output.log") if key == "--output" else str(job_dir)
            if value != want:
                raise HelperError(f"{key} must be {want}")
            continue
        pattern = _PATTERNS.get(key)
        if pattern is None or not sep:
            raise HelperError(f"sbatch option {option[:80]!r} is not allowed")
        if not pattern.match(value):
            raise HelperError(f"sbatch option {key} has a value that is not allowed: {value[:80]!r}")
    for needed in ("--job-name", "--account", "--output", "--chdir"):
        if needed not in seen:
            raise HelperError(f"sbatch needs {needed}")
    return job_dir


def hand_over(config: HelperConfig, job_dir: Path, user: pwd.struct_passwd) -> None:
    """The job folder and its files belong to the person, group the agent's (the folder setgid, 2770)."""
    try:
        agent_gid = grp.getgrnam(config.agent_group).gr_gid
    except KeyError:
        raise HelperError(f"the agent's group {config.agent_group!r} does not exist") from None
    if job_dir.is_symlink() or not job_dir.is_dir():
        raise HelperError(f"{job_dir} is not a folder")
    for entry in job_dir.iterdir():
        if entry.is_symlink() or not entry.is_file():
            raise HelperError(f"{entry} is not a plain file")
        os.lchown(entry, user.pw_uid, agent_gid)
    os.lchown(job_dir, user.pw_uid, agent_gid)
    job_dir.chmod(0o2770)


def sbatch(config: HelperConfig, slurm_conf: str, name: str, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    if slurm_conf not in config.slurm_confs:
        raise HelperError(f"{slurm_conf!r} is not one of the configured slurm.conf files")
    user = managed_user(config, name)
    job_dir = check_sbatch_args(config, args)
    hand_over(config, job_dir, user)
    groups = [g.gr_gid for g in grp.getgrall() if name in g.gr_mem]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": user.pw_dir,
           "USER": name, "LOGNAME": name, "SLURM_CONF": slurm_conf}
    return subprocess.run(["sbatch", *args], capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
                          stdin=subprocess.DEVNULL, env=env, user=user.pw_uid, group=user.pw_gid,
                          extra_groups=groups, cwd=str(job_dir))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aifactory-site-helper", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in ("user-add", "user-lock", "user-unlock"):
        sub.add_parser(command).add_argument("name")
    batch = sub.add_parser("sbatch")
    batch.add_argument("--slurm-conf", required=True)
    batch.add_argument("name")
    batch.add_argument("args", nargs=argparse.REMAINDER)
    opts = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("aifactory-site-helper: must run as root", file=sys.stderr)
        return 77
    if opts.config is not None and "SUDO_UID" in os.environ:
        print("aifactory-site-helper: --config is not taken through sudo", file=sys.stderr)
        return 77
    try:
        config = HelperConfig.load(opts.config or DEFAULT_CONFIG)
        if opts.command == "sbatch":
            args = opts.args[1:] if opts.args[:1] == ["--"] else opts.args
            done = sbatch(config, opts.slurm_conf, opts.name, args)
            sys.stdout.write(done.stdout)
            sys.stderr.write(done.stderr)
            return done.returncode
        action = {"user-add": user_add, "user-lock": user_lock, "user-unlock": user_unlock}[opts.command]
        print(action(config, opts.name))
    except HelperError as exc:
        print(f"aifactory-site-helper: refused: {exc}", file=sys.stderr)
        return 65
    except subprocess.TimeoutExpired as exc:
        print(f"aifactory-site-helper: {exc.cmd[0]} did not answer in {TIMEOUT_S} s", file=sys.stderr)
        return 75
    return 0


if __name__ == "__main__":
    sys.exit(main())
