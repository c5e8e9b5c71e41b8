"""A real OpenSSH server (Debian's openssh-server) on a free loopback port, trusting a user CA and reading a KRL.

The server runs as root (it logs people in as themselves), with its own configuration, host key, pid file and
log in a temporary folder: `TrustedUserCAKeys` (the CA's public line), `RevokedKeys` (the KRL, re-read at every
login), no passwords, no authorized_keys files, no PAM. Logins are made with the OpenSSH client, as a person would.

Needs root (to start sshd and create POSIX users) and the sshd and ssh programs; without them the tests are
skipped, or fail when AIFACTORY_REQUIRE_SSHD=1 (the CI tier sets it).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"


def _unavailable(message: str) -> None:
    if os.environ.get("AIFACTORY_REQUIRE_SSHD") == "1":
        pytest.fail(f"AIFACTORY_REQUIRE_SSHD=1 and {message}", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Sshd:
    folder: Path
    port: int
    ca_file: Path
    krl_file: Path
    log_file: Path
    process: subprocess.Popen[bytes] | None = None
    users: list[str] = field(default_factory=list)

    def set_ca(self, line: str) -> None:
        self.ca_file.write_text(line + "\n", encoding="utf-8")

    def set_krl(self, data: bytes) -> None:
        tmp = self.krl_file.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(self.krl_file)

    def login(
        self, user: str, key_file: Path, cert_text: str | None, command: str = "id -un"
    ) -> subprocess.CompletedProcess[str]:
        """ssh user@127.0.0.1 command, offering the key with the certificate (saved as <key>-cert.pub)."""
        argv = ["ssh", "-F", "/dev/null", "-i", str(key_file), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", "ConnectTimeout=10", "-p", str(self.port)]
        if cert_text is not None:
            cert_file = key_file.parent / f"{key_file.name}-cert.pub"
            cert_file.write_text(cert_text + "\n", encoding="utf-8")
            argv += ["-o", f"CertificateFile={cert_file}"]
        argv += [f"{user}@127.0.0.1", command]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False, stdin=subprocess.DEVNULL)

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace") if self.log_file.exists() else ""


def new_posix_user(name: str = "") -> str:
    """A POSIX user for a test (no password: '*', which sshd without PAM does not take for a locked account)."""
    name = name or f"aift{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/sh", "-p", "*",
                    name], check=True, capture_output=True, timeout=30)
    return name


def drop_posix_user(name: str) -> None:
    subprocess.run(["userdel", name], check=False, capture_output=True, timeout=30)


def user_key(folder: Path, name: str) -> tuple[Path, str]:
    """An ed25519 key pair made by ssh-keygen, as a member would make it: (private key file, public key line)."""
    key = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True,
                   capture_output=True, timeout=30)
    return key, (folder / f"{name}.pub").read_text(encoding="utf-8").strip()


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if os.geteuid() != 0:
        _unavailable("the sshd tests must run as root (sshd logs people in as themselves, users are created)")
    for program in (SSHD, "ssh", "ssh-keygen", "useradd"):
        if shutil.which(program) is None:
            _unavailable(f"{program} is not installed (apt-get install openssh-server openssh-client)")
    folder = tmp_path_factory.mktemp("sshd")
    folder.chmod(0o755)
    host_key = folder / "host_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True,
                   capture_output=True, timeout=30)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    server = Sshd(folder=folder, port=free_port(), ca_file=folder / "aifactory_user_ca.pub",
                  krl_file=folder / "aifactory_revoked.krl",
                  log_file=folder / "sshd.log")
    server.ca_file.write_text("", encoding="utf-8")
    server.krl_file.write_bytes(b"")
    config = folder / "sshd_config"
    config.write_text("\n".join([
        f"Port {server.port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {host_key}",
        f"PidFile {folder / 'sshd.pid'}",
        "UsePAM no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "AuthorizedKeysFile none",
        f"TrustedUserCAKeys {server.ca_file}",
        f"RevokedKeys {server.krl_file}",
        "PermitRootLogin no",
        "StrictModes no",
        "LogLevel VERBOSE",
        "",
    ]), encoding="utf-8")
    check = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True, timeout=30, check=False)
    if check.returncode != 0:
        pytest.fail(f"sshd refused its test configuration: {check.stderr}", pytrace=False)
    with server.log_file.open("wb") as log:
        server.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                                          stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"sshd ended at start: {server.log()}", pytrace=False)
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    else:
        pytest.fail(f"sshd did not listen on port {server.port} within 30 s: {server.log()}", pytrace=False)
    try:
        yield server
    finally:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
        for name in server.users:
            drop_posix_user(name)


@pytest.fixture
def posix_user(sshd: Sshd) -> str:
    name = new_posix_user()
    sshd.users.append(name)
    assert pwd.getpwnam(name).pw_name == name
    return name
