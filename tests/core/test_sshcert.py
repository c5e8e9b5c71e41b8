from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_identity

from aifactory.core import sshcert
from aifactory.core.exceptions import InvalidInput


def _line(key: object, comment: str = "me@laptop") -> str:
    text = key.public_key().public_bytes(serialization.Encoding.OpenSSH,  # type: ignore[attr-defined]
                                         serialization.PublicFormat.OpenSSH).decode()
    return f"{text} {comment}".strip()


def test_an_ed25519_key_is_read_with_its_fingerprint() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    parsed = sshcert.parse_public_key("  " + _line(key) + "\n")
    assert parsed.algorithm == "ssh-ed25519"
    assert parsed.comment == "me@laptop"
    assert parsed.fingerprint.startswith("SHA256:") and len(parsed.fingerprint) == 7 + 43
    assert parsed.fingerprint == sshcert.fingerprint(key.public_key())


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "not an OpenSSH public key"),
        ("ssh-ed25519", "not an OpenSSH public key"),
        ("ssh-ed25519 AAAA\nssh-ed25519 AAAA", "single line"),
        ("ssh-ed25519 !!!notbase64", "not an OpenSSH public key"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==", "not a valid"),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "not an OpenSSH public key"),
        ("ssh-ed25519-cert-v01@openssh.com AAAA", "not an OpenSSH public key"),
        ("x" * 20000, "at most"),
        ("ssh-ed25519 AAAA $(rm -rf /)\x07", "not an OpenSSH public key"),
    ],
)
def test_malformed_keys_are_refused_naming_the_field(text: str, words: str) -> None:
    with pytest.raises(InvalidInput) as info:
        sshcert.parse_public_key(text, field="key")
    assert info.value.field == "key"
    assert words in info.value.message


def test_weak_rsa_keys_are_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(InvalidInput, match="2048 to 16384 bits, this one has 1024"):
        sshcert.parse_public_key(_line(weak))
    assert sshcert.parse_public_key(_line(rsa.generate_private_key(public_exponent=65537, key_size=2048)))


def test_a_certificate_names_one_principal_for_the_hours_asked() -> None:
    ca, pem = sshcert.new_ca_key()
    assert sshcert.load_ca_key(pem).public_key() == ca.public_key()
    member = ed25519.Ed25519PrivateKey.generate()
    start = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    cert = sshcert.sign_certificate(ca_key=ca, public_key=member.public_key(), principal="alice7", serial=42,
                                    key_id="site-a:alice7:42", valid_after=start,
                                    valid_before=start + timedelta(hours=8))
    loaded = load_ssh_public_identity(cert.text.encode())
    assert loaded.valid_principals == [b"alice7"]
    assert loaded.serial == 42
    assert loaded.key_id == b"site-a:alice7:42"
    assert loaded.valid_before - loaded.valid_after == 8 * 3600 + 60  # a minute early for clock skew
    assert loaded.signature_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) \
        == ca.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    loaded.verify_cert_signature()
    assert b"permit-pty" in loaded.extensions


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"principal": "Alice; rm"}, "principal"),
        ({"principal": "root\nbob"}, "principal"),
        ({"key_id": "has space"}, "key_id"),
        ({"serial": 0}, "serial"),
        ({"serial": 2**64}, "serial"),
        ({"valid_before": datetime(2026, 1, 1, tzinfo=UTC)}, "valid_before"),
    ],
)
def test_signing_refuses_bad_values(changes: dict[str, object], field: str) -> None:
    ca, _ = sshcert.new_ca_key()
    args: dict[str, object] = {
        "ca_key": ca, "public_key": ed25519.Ed25519PrivateKey.generate().public_key(), "principal": "alice",
        "serial": 1, "key_id": "x", "valid_after": datetime(2026, 6, 1, tzinfo=UTC),
        "valid_before": datetime(2026, 6, 2, tzinfo=UTC),
    }
    args.update(changes)
    with pytest.raises(InvalidInput) as info:
        sshcert.sign_certificate(**args)  # type: ignore[arg-type]
    assert info.value.field == field


@pytest.mark.parametrize("hours", [0, -1, 25, True, "8", float("nan")])
def test_validity_is_more_than_zero_and_at_most_the_maximum(hours: object) -> None:
    with pytest.raises(InvalidInput, match="at most 24"):
        sshcert.check_validity(hours, maximum_hours=24)  # type: ignore[arg-type]
    assert sshcert.check_validity(24, maximum_hours=24) == timedelta(hours=24)


def test_the_krl_lists_serials_ascending_and_key_hashes_sorted() -> None:
    ca, _ = sshcert.new_ca_key()
    hashes = [bytes([9]) * 32, bytes([1]) * 32]
    data = sshcert.build_krl(ca_key=ca, revoked_serials=[7, 3, 7], revoked_key_hashes=hashes, version=5,
                             generated_at=datetime(2026, 11, 30, tzinfo=UTC), comment="c")
    magic, fmt, version, date, flags = struct.unpack(">QIQQQ", data[:36])
    assert (magic, fmt, version, flags) == (sshcert.KRL_MAGIC, 1, 5, 0)
    assert date == int(datetime(2026, 11, 30, tzinfo=UTC).timestamp())
    assert struct.pack(">QQ", 3, 7) in data
    assert data.index(bytes([1]) * 32) < data.index(bytes([9]) * 32)
    assert data.count(struct.pack(">Q", 7)) == 1
    empty = sshcert.build_krl(ca_key=ca, revoked_serials=[], version=1, generated_at=datetime.now(UTC))
    assert len(empty) == 36 + 4 + 4 + len("aifactory")
    with pytest.raises(InvalidInput):
        sshcert.build_krl(ca_key=ca, revoked_serials=[0], version=1, generated_at=datetime.now(UTC))
    with pytest.raises(InvalidInput):
        sshcert.build_krl(ca_key=ca, revoked_serials=[], revoked_key_hashes=[b"short"], version=1,
                          generated_at=datetime.now(UTC))
