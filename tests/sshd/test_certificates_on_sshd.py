"""Certificates signed by aifactory.core.sshcert, presented to a real sshd by the OpenSSH client."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aifactory.core import sshcert
from tests.sshd.conftest import Sshd, new_posix_user, user_key

pytestmark = pytest.mark.sshd

_serials = itertools.count(1000)


@pytest.fixture(scope="module")
def ca(sshd: Sshd) -> sshcert.CaKey:
    key, _ = sshcert.new_ca_key()
    sshd.set_ca(sshcert.ca_public_line(key))
    sshd.set_krl(sshcert.build_krl(ca_key=key, revoked_serials=[], version=1, generated_at=datetime.now(UTC)))
    return key


def _cert(ca: sshcert.CaKey, public_line: str, principal: str, *, start: timedelta = timedelta(0),
          hours: float = 8) -> sshcert.Certificate:
    now = datetime.now(UTC) + start
    return sshcert.sign_certificate(ca_key=ca, public_key=sshcert.parse_public_key(public_line).key,
                                    principal=principal, serial=next(_serials), key_id=f"test:{principal}",
                                    valid_after=now, valid_before=now + timedelta(hours=hours))


def test_a_fresh_certificate_logs_in_as_its_principal(sshd: Sshd, ca: sshcert.CaKey, posix_user: str,
                                                       tmp_path: Path) -> None:
    key, public = user_key(tmp_path, "member")
    done = sshd.login(posix_user, key, _cert(ca, public, posix_user).text)
    assert done.returncode == 0, done.stderr + sshd.log()[-2000:]
    assert done.stdout.strip() == posix_user


def test_the_key_alone_is_refused(sshd: Sshd, ca: sshcert.CaKey, posix_user: str, tmp_path: Path) -> None:
    key, _ = user_key(tmp_path, "member")
    done = sshd.login(posix_user, key, None)
    assert done.returncode == 255
    assert "Permission denied" in done.stderr


def test_an_expired_certificate_is_refused(sshd: Sshd, ca: sshcert.CaKey, posix_user: str, tmp_path: Path) -> None:
    key, public = user_key(tmp_path, "member")
    done = sshd.login(posix_user, key, _cert(ca, public, posix_user, start=timedelta(hours=-3), hours=1).text)
    assert done.returncode == 255
    assert "Permission denied" in done.stderr
    assert "expired" in sshd.log() or "not yet valid" in sshd.log()


def test_a_certificate_for_another_principal_is_refused(sshd: Sshd, ca: sshcert.CaKey, posix_user: str,
                                                        tmp_path: Path) -> None:
    other = new_posix_user()
    sshd.users.append(other)
    key, public = user_key(tmp_path, "member")
    cert = _cert(ca, public, other)
    assert sshd.login(other, key, cert.text).returncode == 0  # good for its own principal
    done = sshd.login(posix_user, key, cert.text)
    assert done.returncode == 255
    assert "Permission denied" in done.stderr


def test_a_certificate_from_another_ca_is_refused(sshd: Sshd, ca: sshcert.CaKey, posix_user: str,
                                                  tmp_path: Path) -> None:
    stranger, _ = sshcert.new_ca_key()
    key, public = user_key(tmp_path, "member")
    done = sshd.login(posix_user, key, _cert(stranger, public, posix_user).text)
    assert done.returncode == 255


def test_a_revoked_certificate_and_a_revoked_key_are_refused(sshd: Sshd, ca: sshcert.CaKey, posix_user: str,
                                                             tmp_path: Path) -> None:
    key, public = user_key(tmp_path, "member")
    first, second = _cert(ca, public, posix_user), _cert(ca, public, posix_user)
    assert sshd.login(posix_user, key, first.text).returncode == 0
    now = datetime.now(UTC)
    try:
        sshd.set_krl(sshcert.build_krl(ca_key=ca, revoked_serials=[first.serial], version=2, generated_at=now))
        done = sshd.login(posix_user, key, first.text)
        assert done.returncode == 255
        assert "revoked" in sshd.log().lower()
        assert sshd.login(posix_user, key, second.text).returncode == 0  # by serial: only that certificate

        by_key = sshcert.build_krl(ca_key=ca, revoked_serials=[first.serial], version=3, generated_at=now,
                                   revoked_key_hashes=[sshcert.key_hash(public)])
        sshd.set_krl(by_key)
        assert sshd.login(posix_user, key, second.text).returncode == 255  # the key: every certificate for it
        other_key, other_public = user_key(tmp_path, "other")
        assert sshd.login(posix_user, other_key, _cert(ca, other_public, posix_user).text).returncode == 0
    finally:
        sshd.set_krl(sshcert.build_krl(ca_key=ca, revoked_serials=[], version=4, generated_at=now))
