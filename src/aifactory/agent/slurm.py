"""A site's Slurm cluster as an agent backend: drives sbatch, squeue, sacct, sacctmgr and scancel.

Every command runs through `subprocess.run` with an argument list (never a shell) and a small,
explicit environment: PATH, HOME, LANG/LC_ALL=C.UTF-8, TZ when set, and SLURM_CONF from the
constructor, so one process can drive several clusters and nothing of the agent's own
environment (its portal token, a surrounding job's SLURM_* variables, SQUEUE_FORMAT, ...) reaches
Slurm's tools or the jobs, which inherit sbatch's environment.

How a job is laid out (workdir/<uid>/):

    user.sh      the user's commands, byte for byte; the only file that runs user text
    batch.sh     written by the backend: for a gated job, waits for `released` (the start gate of
                 aifactory.agent.base; `not-released` and exit code 75 when it does not come in
                 time); exports the job's environment, each value through shlex.quote; checks the
                 inputs exist (exit code 66 when one does not); then `exec /bin/bash
                 <workdir>/<uid>/user.sh`, or, with an image, `exec apptainer exec --bind <job dir>
                 [--bind <input>:<input>:ro ...] --pwd <job dir> <image> /bin/bash <job dir>/user.sh`
                 (the image, paths and runtime as single quoted words); with outputs, lists those
                 found with their sizes (bytes in files) in `outputs.tsv` before ending with the
                 script's status
    output.log   stdout and stderr of the job (sbatch --output), read back by `logs`

The container runs the whole of user.sh on the job's first node; a multi-node job starts its other
ranks itself (srun inside the commands when there is no image, or no image for such jobs).

The portal's uid is written into the scheduler's record as the job name `aif-<uid>` and the comment
`aif:<uid>`; `find` looks the name up, first with squeue (jobs the controller holds, finished ones
included while it keeps them), then with sacct (the accounting database, which keeps finished jobs).
A job the controller has ended but the accounting has not yet recorded is reported running (ending):
its usage is known only from the accounting. The job's own name (BatchJob.name)
reaches the job only as the quoted value of AIF_JOB_NAME, never a command line.

Slurm state           -> JobState
    PENDING, CONFIGURING, REQUEUED, REQUEUE_HOLD, REQUEUE_FED, RESIZING       -> SUBMITTED
    RUNNING, COMPLETING, SUSPENDED, STOPPED, SIGNALING, STAGE_OUT             -> RUNNING
    COMPLETED                                                                 -> COMPLETED
    FAILED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, BOOT_FAIL, DEADLINE, PREEMPTED,
    SPECIAL_EXIT                                                              -> FAILED
    CANCELLED (sacct: "CANCELLED by <uid>"), REVOKED                          -> CANCELLED
Any other state, and any line that does not have the fields asked for, raises BackendError with
the line: scheduler output is external input.

GPU budgets. `ensure_account(account, gpu_minutes)` creates the account in this cluster
(`sacctmgr add account ... cluster=<cluster>`), adds the user to it and sets the account's
association limit `GrpTRESMins=gres/<gres>=<gpu_minutes>`, then waits until slurmctld has loaded
it. The limit is only a budget when the cluster runs priority/multifactor (usage is counted by
its decay thread) and enforces `limits`. What Slurm 22.05 does with a job that does not fit
(observed on the test clusters of scripts/slurm-cluster.sh):

- with AccountingStorageEnforce including `safe` (the test clusters): sbatch accepts the job, and
  it stays PENDING with reason AssocGrpGRESMinutes as long as its GPUs x time limit exceeds what is
  left of the budget; it starts only if the budget is raised. `find` reports it SUBMITTED with a
  message naming the budget, so the agent can cancel it or ask for more GPU-minutes;
- without `safe`: the job starts as long as the GPU-minutes already used are below the limit, even
  if it will overrun it; once usage reaches the limit, new jobs stay pending (AssocGrpGRESMinutes);
- an account that Slurm does not know, or one the user is not in: sbatch refuses ("Invalid account
  or account/partition combination specified") and `submit` raises BackendError with those words.

Jobs' output files are read from workdir, so on a real site workdir must be on a file system that
both the agent and the compute nodes see.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aifactory.agent.base import (
    ACCOUNT_RE,
    LEASE_KILL_AFTER_S,
    SITE_USER_RE,
    UID_RE,
    Backend,
    BackendError,
    BatchJob,
    JobReport,
    read_markers,
)
from aifactory.agent.slurm_output import (
    SacctRow,
    SqueueRow,
    job_id_key,
    map_state,
    parse_sacct_line,
    parse_squeue_line,
    parse_time,
)
from aifactory.core.exceptions import InvalidInput
from aifactory.core.jobs import JobState
from aifactory.core.sites import SiteProfile, sbatch_options

__all__ = [
    "CommandResult",
    "Runner",
    "SacctRow",
    "SlurmBackend",
    "SqueueRow",
    "batch_script",
    "map_state",
    "parse_sacct_line",
    "parse_squeue_line",
    "run_command",
]

JOB_NAME_PREFIX = "aif-"
COMMENT_PREFIX = "aif:"
SACCT_FORMAT = "JobID,JobName,State,ExitCode,ElapsedRaw,AllocTRES,Start,End"
SACCT_SINCE = "2020-01-01"
SQUEUE_FORMAT = "%i|%j|%T|%r|%S"
OUTPUT_FILE = "output.log"
USER_SCRIPT = "user.sh"
BATCH_SCRIPT = "batch.sh"
GATED_FILE = "gated"
RELEASE_FILE = "released"
NOT_RELEASED_FILE = "not-released"
STARTED_FILE = "started"
OUTPUTS_FILE = "outputs.tsv"
LEASE_FILE = "lease"
LEASE_EXPIRED_FILE = "lease-expired"
MARKERS_DIR = "checkpoints"
NOT_RELEASED_EXIT = 75
GATE_FIRST_S = 0.02
"""How often a job at its start gate looks for `released` in its first GATE_FAST_S seconds (the agent, when it is
there, releases it within a few hundredths of a second plus one call to the portal)..."""
GATE_FAST_S = 3
GATE_SLOW_S = 0.5
"""... and after: an agent that has not answered by then is away, and the job may wait for it up to start_wait_s."""
MISSING_INPUT_EXIT = 66
RUNTIME_RE = re.compile(r"^(?:/[A-Za-z0-9._+-]+)+$|^[a-z][a-z0-9_-]{0,39}$")

CLUSTER_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
PARTITION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
GRES_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")

# Pending reasons that mean the account's GPU-minutes budget stops the job from starting.
_BUDGET_REASONS = frozenset(
    {"AssocGrpGRESMinutes", "AssocGrpGRESRunMinutes", "AssocGrpTRESMinutes", "AssocGrpTRESRunMinutes"}
)


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


Runner = Callable[[Sequence[str], Mapping[str, str], float], CommandResult]


def run_command(argv: Sequence[str], env: Mapping[str, str], timeout_s: float) -> CommandResult:
    """Run one Slurm tool: argument list, no shell, the given environment only."""
    try:
        done = subprocess.run(
            list(argv),
            env=dict(env),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_s,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise BackendError(f"{argv[0]} did not answer within {timeout_s:g} s") from exc
    except OSError as exc:
        raise BackendError(f"cannot run {argv[0]}: {exc}") from exc
    return CommandResult(done.returncode, done.stdout, done.stderr)


def batch_script(
    job: BatchJob, job_dir: Path, container_runtime: str = "apptainer", profile: SiteProfile | None = None
) -> str:
    """The batch script sbatch runs: the start gate (gated jobs), environment (every value quoted), the inputs'
    check, then the user's file, in the job's image when it has one, and the list of its outputs.

    Only the values the backend controls are spelled out; the user's script text never appears here, and every
    other value the user gave (name, environment values, image, paths) is one shell-quoted word.

    With a site profile, the site's setup lines (`module use|load`, checked when the profiles are read) run first
    where a `module` command exists, its variables are exported, and its container GPU flag (e.g. --nv) is passed.
    """
    q = shlex.quote
    lines = ["#!/bin/bash", f"# aifactory job {job.uid}; the user's commands are in {USER_SCRIPT}."]
    if profile is not None:
        lines += profile_setup_lines(profile)
    if job.gated:
        lines += [
            "# Start gate: the commands run only once the site's agent has released the job, which it does when the",
            f"# portal holds the job for this site; without that within {job.start_wait_s} s the job ends, having run "
            "nothing.",
            f": > {q(str(job_dir / STARTED_FILE))}  # the agent sees the job at its gate without asking Slurm",
            f"# The agent answers within a fraction of a second when it is there: look every {GATE_FIRST_S:g} s for "
            f"{GATE_FAST_S} s,",
            f"# then every {GATE_SLOW_S:g} s (a job that waits longer waits for an agent that is away).",
            "SECONDS=0",
            f"until [ -e {q(str(job_dir / RELEASE_FILE))} ]; do",
            f'  if [ "$SECONDS" -gt {job.start_wait_s} ]; then',
            f"    echo 'aifactory: not released by the site within {job.start_wait_s} s; nothing was run' >&2",
            f"    : > {q(str(job_dir / NOT_RELEASED_FILE))}",
            f"    exit {NOT_RELEASED_EXIT}",
            "  fi",
            f'  if [ "$SECONDS" -lt {GATE_FAST_S} ]; then sleep {GATE_FIRST_S:g}; else sleep {GATE_SLOW_S:g}; fi',
            "done",
        ]
    lines += [
        f"export AIF_JOB_UID={job.uid}",
        f"export AIF_JOB_NAME={q(job.name)}",
        f"export AIF_JOB_DIR={q(str(job_dir))}",
    ]
    for key, value in job.env.items():
        lines.append(f"export {key}={q(value)}")
    lines.append(f"cd {q(str(job_dir))} || exit 1")
    for path in job.inputs:
        lines.append(f"[ -e {q(path)} ] || {{ printf 'aifactory: input %s is not there\\n' {q(path)} >&2; "
                     f"exit {MISSING_INPUT_EXIT}; }}")
    run = f"/bin/bash {q(str(job_dir / USER_SCRIPT))}"
    if job.image:
        binds = [f"--bind {q(str(job_dir))}"] + [f"--bind {q(f'{p}:{p}:ro')}" for p in job.inputs]
        if profile is not None and profile.container_gpu_flag:
            binds.insert(0, profile.container_gpu_flag)
        run = f"{q(container_runtime)} exec {' '.join(binds)} --pwd {q(str(job_dir))} {q(job.image)} {run}"
    if job.lease_s:
        lines += lease_lines(job_dir, run)
    elif not job.outputs:
        lines.append(f"exec {run}")
        return "\n".join(lines) + "\n"
    else:
        lines += [run, "aif_status=$?"]
    if not job.outputs:
        lines.append('exit "$aif_status"')
        return "\n".join(lines) + "\n"
    listing = q(str(job_dir / OUTPUTS_FILE))
    lines += [f": > {listing}"]
    for rel in job.outputs:
        target = q(str(job_dir / rel))
        size = f"$(find {target} -type f -printf '%s\\n' | awk '{{s += $1}} END {{print s + 0}}')"
        lines.append(f"if [ -e {target} ]; then printf '%s\\t%s\\n' \"{size}\" {q(rel)} >> {listing}; fi")
    lines.append('exit "$aif_status"')
    return "\n".join(lines) + "\n"


def lease_lines(job_dir: Path, run: str) -> list[str]:
    """The lease's watchdog: the commands run in a process group of their own while the batch script reads the
    lease file (seconds since the epoch, renewed by the agent at each pass); once that time has passed, the group
    gets TERM (train.py checkpoints and exits) and, LEASE_KILL_AFTER_S later, KILL. Slurm's own signals reach the
    commands as before (TERM and USR1 given to the batch shell are passed on to the group). `$aif_status` is the
    commands' exit status."""
    q = shlex.quote
    lease = q(str(job_dir / LEASE_FILE))
    return [
        "# Lease: the commands stop when the site's agent has not renewed the lease in time (a lost site), so that the",
        "# portal can start the run's next segment elsewhere once the lease and its grace have passed.",
        f"export AIF_LEASE_FILE={lease}",
        f"setsid {run} &",
        "aif_child=$!",
        "trap 'kill -s TERM -- \"-$aif_child\" 2>/dev/null' TERM",
        "trap 'kill -s USR1 -- \"-$aif_child\" 2>/dev/null' USR1",
        "aif_kill_at=0",
        'while kill -0 "$aif_child" 2>/dev/null; do',
        "  aif_now=$(date +%s)",
        '  if [ "$aif_kill_at" -eq 0 ]; then',
        f"    {{ read -r aif_until < {lease}; }} 2>/dev/null || aif_until=0",
        '    case "$aif_until" in ""|*[!0-9]*) aif_until=0 ;; esac',
        '    if [ "$aif_now" -ge "$aif_until" ]; then',
        "      echo 'aifactory: the lease was not renewed by the site; stopping the commands' >&2",
        f"      : > {q(str(job_dir / LEASE_EXPIRED_FILE))}",
        '      kill -s TERM -- "-$aif_child" 2>/dev/null',
        f"      aif_kill_at=$((aif_now + {LEASE_KILL_AFTER_S}))",
        "    fi",
        '  elif [ "$aif_now" -ge "$aif_kill_at" ]; then',
        '    kill -s KILL -- "-$aif_child" 2>/dev/null',
        "  fi",
        "  sleep 1 & wait $!",
        "done",
        'wait "$aif_child"',
        "aif_status=$?",
    ]


def profile_setup_lines(profile: SiteProfile) -> list[str]:
    """The site's module lines (where a module command exists) and variables, for the top of a batch script."""
    lines = [f"# Site profile {profile.key} ({profile.name})."]
    if profile.setup:
        lines.append("if type module >/dev/null 2>&1; then")
        lines += [f"  {line}" for line in profile.setup]
        skipped = f"aifactory: no module command here; skipped the {profile.key} setup"
        lines.append(f"else echo {shlex.quote(skipped)} >&2")
        lines.append("fi")
    for key, value in profile.env.items():
        lines.append(f"export {key}={shlex.quote(value)}")
    return lines


def _check_text(what: str, value: str) -> None:
    if "\x00" in value:
        raise BackendError(f"{what} contains a NUL byte, which a job environment cannot carry")


def _current_user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


class SlurmBackend(Backend):
    """One Slurm cluster, selected by its slurm.conf (SLURM_CONF) and named as in its ClusterName."""

    name = "slurm"

    def __init__(
        self,
        *,
        cluster: str,
        slurm_conf: str | None,
        workdir: Path,
        partition: str | None = None,
        user: str | None = None,
        gres: str = "gpu",
        timeout_s: float = 30,
        runner: Runner | None = None,
        container_runtime: str = "apptainer",
        helper: Sequence[str] | None = None,
        profile: SiteProfile | None = None,
    ) -> None:
        if not CLUSTER_RE.match(cluster):
            raise ValueError(f"cluster name {cluster!r} is not a valid Slurm ClusterName")
        if partition is not None and not PARTITION_RE.match(partition):
            raise ValueError(f"partition {partition!r} is not a valid Slurm partition name")
        if not GRES_RE.match(gres):
            raise ValueError(f"gres {gres!r} is not a valid GRES name")
        user = user if user is not None else _current_user()
        if not USER_RE.match(user):
            raise ValueError(f"user {user!r} is not a valid user name")
        workdir = Path(workdir).absolute()
        # sbatch expands %-patterns in --output and a newline would break the batch script's lines.
        if any(ch in str(workdir) for ch in "%\\\n\r\x00"):
            raise ValueError(f"workdir {str(workdir)!r} must not contain %, backslash or line breaks")
        if slurm_conf is not None and "\x00" in slurm_conf:
            raise ValueError("slurm_conf must not contain a NUL byte")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if not RUNTIME_RE.match(container_runtime):
            raise ValueError(f"container runtime {container_runtime!r} must be a command name or an absolute path")
        self.container_runtime = container_runtime
        self.helper = list(helper) if helper else None
        self.profile = profile
        self.cluster = cluster
        self.slurm_conf = slurm_conf
        self.workdir = workdir
        self.partition = partition
        self.user = user
        self.gres = gres
        self.timeout_s = float(timeout_s)
        self._runner: Runner = runner if runner is not None else run_command

    # --- commands ---------------------------------------------------------------------------

    def command_env(self) -> dict[str, str]:
        """The whole environment Slurm's tools (and, through sbatch, the jobs) get."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
        }
        if "TZ" in os.environ:
            env["TZ"] = os.environ["TZ"]
        if self.slurm_conf is not None:
            env["SLURM_CONF"] = self.slurm_conf
        return env

    def _run(self, argv: Sequence[str], *, ok_words: Sequence[str] = ()) -> str:
        result = self._runner(list(argv), self.command_env(), self.timeout_s)
        if result.returncode != 0:
            said = result.stderr.strip() or result.stdout.strip() or f"exit status {result.returncode}"
            if any(word in result.stdout or word in result.stderr for word in ok_words):
                return result.stdout
            raise BackendError(f"{argv[0]} failed: {said}")
        return result.stdout

    @staticmethod
    def _check_uid(uid: str) -> None:
        if not UID_RE.match(uid):
            raise BackendError(f"job uid must be 32 hex digits, got {uid!r}")

    def job_dir(self, uid: str) -> Path:
        self._check_uid(uid)
        return self.workdir / uid

    # --- accounts ---------------------------------------------------------------------------

    def ensure_account(self, account: str, gpu_minutes: int) -> None:
        if not ACCOUNT_RE.match(account):
            raise BackendError(f"account {account!r} is not a valid scheduler account name")
        if isinstance(gpu_minutes, bool) or not isinstance(gpu_minutes, int) or gpu_minutes < 0:
            raise BackendError(f"gpu_minutes must be a non-negative integer, got {gpu_minutes!r}")
        users = self._associations(account)
        if "" not in users:
            self._run(
                ["sacctmgr", "-i", "add", "account", account, f"cluster={self.cluster}"],
                ok_words=("Nothing new added",),
            )
        if self.user not in users:
            self._run(
                ["sacctmgr", "-i", "add", "user", self.user, f"account={account}", f"cluster={self.cluster}"],
                ok_words=("Nothing new added",),
            )
        limit = f"GrpTRESMins=gres/{self.gres}={gpu_minutes}"
        where = ["where", f"name={account}", f"cluster={self.cluster}"]
        self._run(["sacctmgr", "-i", "modify", "account", *where, "set", limit], ok_words=("Nothing modified",))
        self._wait_for_controller(account, gpu_minutes)

    # --- accounts per person ---------------------------------------------------------------

    def _helper(self, *args: str) -> str:
        """Run the site's privileged helper (aifactory.agent.site_helper): user accounts, sbatch as a person."""
        if self.helper is None:
            raise BackendError("this site has no privileged helper configured: it cannot act for a person")
        result = self._runner([*self.helper, *args], self.command_env(), self.timeout_s)
        if result.returncode != 0:
            said = result.stderr.strip() or result.stdout.strip() or f"exit status {result.returncode}"
            raise BackendError(f"{args[0]} failed: {said}")
        return result.stdout

    def ensure_member(self, account: str, user: str) -> None:
        """The POSIX user (through the helper), then the user's association under the account, open to jobs."""
        self._check_member(account, user)
        self._helper("user-add", user)
        if user not in self._associations(account):
            self._run(["sacctmgr", "-i", "add", "user", user, f"account={account}", f"cluster={self.cluster}"],
                      ok_words=("Nothing new added",))
        self._set_max_submit(account, user, -1)
        self._helper("user-unlock", user)
        self._wait_for_member(account, user, "MaxSubmitJobs=")

    def close_member(self, account: str, user: str, *, lock: bool) -> None:
        """MaxSubmitJobs=0 on the user's association: sbatch refuses their new jobs, running ones end as they would.
        The association stays, so sacct keeps their usage under the project."""
        self._check_member(account, user)
        if user in self._associations(account):
            self._set_max_submit(account, user, 0)
            self._wait_for_member(account, user, "MaxSubmitJobs=0(")
        if lock:
            self._helper("user-lock", user)

    @staticmethod
    def _check_member(account: str, user: str) -> None:
        if not ACCOUNT_RE.match(account):
            raise BackendError(f"account {account!r} is not a valid scheduler account name")
        if not SITE_USER_RE.match(user):
            raise BackendError(f"site user {user!r} is not a valid site account name")

    def _set_max_submit(self, account: str, user: str, value: int) -> None:
        where = ["where", f"name={user}", f"account={account}", f"cluster={self.cluster}"]
        self._run(["sacctmgr", "-i", "modify", "user", *where, "set", f"MaxSubmitJobs={value}"],
                  ok_words=("Nothing modified",))

    def _wait_for_member(self, account: str, user: str, want: str) -> None:
        """Until slurmctld holds the user's association under the account, with `want` in its limits
        ("MaxSubmitJobs=" followed by a space when unlimited)."""
        argv = ["scontrol", "show", "assoc_mgr", f"accounts={account}", f"users={user}", "flags=assoc"]
        head = f"Account={account} UserName={user}("
        deadline = time.monotonic() + self.timeout_s
        while True:
            result = self._runner(argv, self.command_env(), self.timeout_s)
            said = result.stdout + result.stderr
            limits = re.findall(r"MaxSubmitJobs=\S*", said)
            ok = want.endswith("(") and any(v.startswith(want) for v in limits) or (
                want == "MaxSubmitJobs=" and "MaxSubmitJobs=" in limits)
            if result.returncode == 0 and head in said and ok:
                return
            if time.monotonic() >= deadline:
                raise BackendError(f"slurmctld has not loaded {user!r} in account {account!r} ({want}) after "
                                   f"{self.timeout_s:g} s: {said.strip()[-500:]}")
            time.sleep(0.2)

    def _associations(self, account: str) -> set[str]:
        """Users with an association to the account in this cluster ('' is the account's own)."""
        where = ["where", f"cluster={self.cluster}", f"account={account}"]
        out = self._run(["sacctmgr", "-n", "-P", "show", "assoc", *where, "format=Account,User"])
        users: set[str] = set()
        for line in out.splitlines():
            if not line.strip():
                continue
            fields = line.split("|")
            if len(fields) != 2 or fields[0] != account:
                raise BackendError(f"unexpected sacctmgr line: {line!r}")
            users.add(fields[1])
        return users

    def _wait_for_controller(self, account: str, gpu_minutes: int) -> None:
        """slurmctld learns of new associations from slurmdbd; a job submitted before that is refused."""
        argv = ["scontrol", "show", "assoc_mgr", f"accounts={account}", f"users={self.user}", "flags=assoc"]
        want_user = f"Account={account} UserName={self.user}("
        want_limit = f"gres/{self.gres}={gpu_minutes}("
        deadline = time.monotonic() + self.timeout_s
        said = ""
        while True:
            result = self._runner(argv, self.command_env(), self.timeout_s)
            said = result.stdout + result.stderr
            if result.returncode == 0 and want_user in said and want_limit in said:
                return
            if time.monotonic() >= deadline:
                raise BackendError(
                    f"slurmctld has not loaded account {account!r} with GrpTRESMins gres/{self.gres}="
                    f"{gpu_minutes} after {self.timeout_s:g} s: {said.strip()[-500:]}"
                )
            time.sleep(0.2)

    # --- jobs -------------------------------------------------------------------------------

    def sbatch_argv(self, job: BatchJob, job_dir: Path) -> list[str]:
        if job.gpus % job.nodes:
            raise BackendError(f"{job.gpus} GPUs cannot be spread evenly over {job.nodes} nodes")
        minutes = -(-job.time_limit_s // 60)
        argv = [
            "sbatch",
            "--parsable",
            f"--job-name={JOB_NAME_PREFIX}{job.uid}",
            f"--comment={COMMENT_PREFIX}{job.uid}",
            f"--account={job.account}",
            f"--nodes={job.nodes}",
            f"--time={minutes}",
            f"--output={job_dir / OUTPUT_FILE}",
            f"--chdir={job_dir}",
            "--no-requeue",
        ]
        if self.profile is not None:
            try:
                argv += sbatch_options(self.profile, nodes=job.nodes, gpus_per_node=job.gpus // job.nodes,
                                       time_min=minutes, partition=self.partition, gres=self.gres)
            except InvalidInput as exc:
                raise BackendError(exc.message) from None
        else:
            if job.gpus:
                argv.append(f"--gres={self.gres}:{job.gpus // job.nodes}")
            if self.partition is not None:
                argv.append(f"--partition={self.partition}")
        argv.append(str(job_dir / BATCH_SCRIPT))
        return argv

    def submit(self, job: BatchJob) -> str:
        """Write the job's files and sbatch it; a uid the scheduler already knows is not submitted again."""
        _check_text("job name", job.name)
        for key, value in job.env.items():
            _check_text(f"environment variable {key}", value)
        known = self.find(job.uid)
        if known is not None:
            return known.scheduler_id
        return self.submit_unseen(job)

    def submit_unseen(self, job: BatchJob) -> str:
        """Write the job's files and sbatch it, without asking the scheduler first: the caller just did (`find`)."""
        _check_text("job name", job.name)
        for key, value in job.env.items():
            _check_text(f"environment variable {key}", value)
        job_dir = self.job_dir(job.uid)
        argv = self.sbatch_argv(job, job_dir)
        job_dir.mkdir(parents=True, exist_ok=True)
        for stale in (STARTED_FILE, RELEASE_FILE, NOT_RELEASED_FILE, OUTPUTS_FILE):
            # Left by an earlier copy that ended at its gate (Agent._handle): the new copy starts with a closed gate.
            (job_dir / stale).unlink(missing_ok=True)
        (job_dir / USER_SCRIPT).write_text(job.script, encoding="utf-8")
        if job.gated:
            (job_dir / GATED_FILE).touch()
        if job.lease_s:
            self.renew_lease(job.uid, time.time() + job.lease_s)
        batch = job_dir / BATCH_SCRIPT
        batch.write_text(batch_script(job, job_dir, self.container_runtime, self.profile), encoding="utf-8")
        batch.chmod(0o700)
        if job.user and job.user != self.user:
            out = self._helper("sbatch", "--slurm-conf", self.slurm_conf or "", job.user, "--", *argv[1:]).strip()
        else:
            out = self._run(argv).strip()
        job_id = out.split(";", 1)[0].strip()
        if not job_id.isdigit():
            raise BackendError(f"sbatch answered {out!r}, not a job id")
        return job_id

    def _squeue(self, uid: str) -> list[SqueueRow]:
        # -t all: also the jobs the controller has finished but still holds (MinJobAge), which the accounting may
        # not have recorded yet.
        out = self._run(["squeue", "-h", "-t", "all", "--name", f"{JOB_NAME_PREFIX}{uid}", "-o", SQUEUE_FORMAT])
        rows = [parse_squeue_line(line) for line in out.splitlines() if line.strip()]
        return [row for row in rows if row.name == f"{JOB_NAME_PREFIX}{uid}"]

    def _sacct(self, uid: str) -> list[SacctRow]:
        name = f"{JOB_NAME_PREFIX}{uid}"
        out = self._run(
            ["sacct", "-X", "-n", "-P", "--name", name, "-S", SACCT_SINCE, "-E", "now", f"--format={SACCT_FORMAT}"]
        )
        rows = [parse_sacct_line(line, self.gres) for line in out.splitlines() if line.strip()]
        return [row for row in rows if row.name == f"{JOB_NAME_PREFIX}{uid}"]

    def find(self, uid: str) -> JobReport | None:
        self._check_uid(uid)
        queued = max(self._squeue(uid), key=lambda row: job_id_key(row.job_id), default=None)
        if queued is not None and queued.state is JobState.SUBMITTED:
            return JobReport(
                uid=uid, scheduler_id=queued.job_id, state=JobState.SUBMITTED, message=_pending_message(queued.reason)
            )
        accounted = max(self._sacct(uid), key=lambda row: job_id_key(row.job_id), default=None)
        if accounted is not None and (queued is None or accounted.job_id == queued.job_id):
            state = accounted.state
            if queued is not None and not state.terminal:
                # The controller is ahead of the accounting database; a job it has ended is still ending until the
                # accounting records how long it ran (its usage).
                state = JobState.RUNNING if queued.state.terminal else queued.state
            return _report_from_sacct(uid, accounted, state)
        if queued is not None:
            if queued.state.terminal:
                return JobReport(uid, queued.job_id, JobState.RUNNING, started_at=queued.start,
                                 message=f"slurm: {queued.raw_state}, not yet in the accounting")
            message = f"slurm: {queued.raw_state}"
            return JobReport(uid, queued.job_id, queued.state, started_at=queued.start, message=message)
        return None

    def find_live(self, uid: str) -> JobReport | None:
        """squeue only when the controller holds no copy (sacct, the accounting, is asked only when it does)."""
        self._check_uid(uid)
        if not self._squeue(uid):
            return None
        return self.find(uid)

    def cancel(self, uid: str) -> None:
        self._check_uid(uid)
        self._run(["scancel", "--name", f"{JOB_NAME_PREFIX}{uid}"])

    def logs(self, uid: str, max_bytes: int = 65536) -> str:
        path = self.job_dir(uid) / OUTPUT_FILE
        if max_bytes <= 0:
            return ""
        try:
            with path.open("rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - max_bytes))
                data = handle.read(max_bytes)
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise BackendError(f"cannot read the output of job {uid}: {exc}") from exc
        return data.decode("utf-8", errors="replace")

    def release(self, uid: str) -> None:
        job_dir = self.job_dir(uid)
        if not job_dir.is_dir():
            raise BackendError(f"job {uid} has no folder here")
        (job_dir / RELEASE_FILE).touch()

    def released(self, uid: str) -> bool:
        job_dir = self.job_dir(uid)
        return not (job_dir / GATED_FILE).exists() or (job_dir / RELEASE_FILE).exists()

    def at_gate(self, uid: str) -> bool:
        return (self.job_dir(uid) / STARTED_FILE).exists() and not self.released(uid)

    def output_files(self, uid: str) -> list[dict[str, object]]:
        """The outputs.tsv the batch script wrote: one `<bytes>\t<path>` line per output found."""
        try:
            text = (self.job_dir(uid) / OUTPUTS_FILE).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        found: list[dict[str, object]] = []
        for line in text.splitlines()[:64]:
            size, sep, path = line.partition("\t")
            if sep and size.isdigit() and path:
                found.append({"path": path[:1024], "bytes": int(size)})
        return found

    def renew_lease(self, uid: str, until: float) -> None:
        job_dir = self.job_dir(uid)
        if not job_dir.is_dir():
            return
        tmp = job_dir / f".{LEASE_FILE}.tmp"
        tmp.write_text(f"{int(until)}\n", encoding="ascii")
        tmp.replace(job_dir / LEASE_FILE)

    def checkpoints(self, uid: str) -> list[dict[str, object]]:
        return read_markers(self.job_dir(uid) / MARKERS_DIR)

    def queue_wait_s(self) -> float:
        """The latest expected start among pending jobs (squeue --start), from now; 0 when none is known."""
        argv = ["squeue", "-h", "--start", "-t", "PENDING", "-o", "%S"]
        if self.partition is not None:
            argv += ["-p", self.partition]
        out = self._run(argv)
        now = datetime.now(UTC)
        wait = 0.0
        for line in out.splitlines():
            if not line.strip():
                continue
            start = parse_time(line, line)
            if start is not None:
                wait = max(wait, (start - now).total_seconds())
        return wait


def _pending_message(reason: str) -> str:
    if reason in _BUDGET_REASONS:
        return (
            f"pending ({reason}): the account's GPU-minutes budget (GrpTRESMins) has too little left for "
            "this job's GPUs x time limit; it will not start unless the budget is raised"
        )
    if reason in {"", "None"}:
        return "pending"
    return f"pending ({reason})"


def _report_from_sacct(uid: str, row: SacctRow, state: JobState) -> JobReport:
    exit_code: int | None = None
    finished = state in {JobState.COMPLETED, JobState.FAILED}
    if finished or (state is JobState.CANCELLED and (row.exit_code or row.signal)):
        exit_code = 128 + row.signal if row.signal else row.exit_code
    message = f"slurm: {row.raw_state}"
    if state is JobState.FAILED:
        message += f", exit code {row.exit_code}" + (f", signal {row.signal}" if row.signal else "")
    return JobReport(
        uid=uid,
        scheduler_id=row.job_id,
        state=state,
        exit_code=exit_code,
        gpu_seconds=float(row.elapsed_s * row.gpus),
        started_at=row.start if row.allocated else None,
        ended_at=row.end if state.terminal and row.allocated else None,
        message=message,
    )
