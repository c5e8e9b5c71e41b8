"""Short-lived OpenSSH user certificates and the key revocation list (KRL) the sites' sshd reads.

A site's sshd trusts the federation's certificate authority (`TrustedUserCAKeys`) and refuses what the KRL lists
(`RevokedKeys`). A member hands in a public key (pasted text, validated here); the portal signs a certificate for one
principal, the member's account name at one site, valid for hours. Certificates are built and signed by the
`cryptography` library (`SSHCertificateBuilder`); nothing here runs a program.

The KRL is written in OpenSSH's binary format (PROTOCOL.krl in OpenSSH's sources; `ssh-keygen -Q -f krl` and sshd
read it): a header, one certificates section for the CA (revoked serial numbers, ascending) and one section of
SHA-256 hashes of revoked public keys (sorted), which refuses the key itself and every certificate made for it.

    public key text --parse_public_key--> PublicKey --sign_certificate--> Certificate (OpenSSH one-line text)
    revoked serials + revoked key hashes --build_krl--> bytes for RevokedKeys
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization.ssh import SSHCertificateBuilder, SSHCertificateType

from aifactory.core.exceptions import InvalidInput

MAX_KEY_TEXT = 16_384
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 16_384
PRINCIPAL_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
KEY_ID_RE = re.compile(r"^[A-Za-z0-9@:._+/=-]{1,200}$")
_KEY_LINE_RE = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) "
                          r"([A-Za-z0-9+/]+={0,2})(?: ([\x20-\x7e]{0,200}))?$")
USER_EXTENSIONS = (b"permit-X11-forwarding", b"permit-agent-forwarding", b"permit-port-forwarding", b"permit-pty",
                   b"permit-user-rc")

KRL_MAGIC = 0x5353484B524C0A00
KRL_FORMAT_VERSION = 1
KRL_SECTION_CERTIFICATES = 1
KRL_SECTION_FINGERPRINT_SHA256 = 5
KRL_SECTION_CERT_SERIAL_LIST = 0x20

PublicKey = ed25519.Ed25519PublicKey | rsa.RSAPublicKey | ec.EllipticCurvePublicKey
CaKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class ParsedKey:
    """A member's public key, checked: its algorithm, its OpenSSH text (comment dropped) and SHA-256 fingerprint."""

    key: PublicKey
    algorithm: str
    openssh: str
    fingerprint: str
    """SHA256:<base64 without padding>, as `ssh-keygen -l` prints it."""
    comment: str


@dataclass(frozen=True)
class Certificate:
    serial: int
    principal: str
    key_id: str
    valid_after: datetime
    valid_before: datetime
    text: str
    """One line: `<type>-cert-v01@openssh.com <base64> <comment>`, to save as `<key>-cert.pub`."""


def key_blob(key: PublicKey | CaKey) -> bytes:
    """The OpenSSH wire encoding of a public key (what fingerprints and KRLs are made of)."""
    public = key.public_key() if isinstance(key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
                                          | ec.EllipticCurvePrivateKey) else key
    text = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return base64.b64decode(text.split()[1])


def fingerprint(key: PublicKey | CaKey) -> str:
    digest = hashlib.sha256(key_blob(key)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_public_key(text: str, field: str = "public_key") -> ParsedKey:
    """Check and read one OpenSSH public key line (`<type> <base64> [comment]`). Refused, naming `field`: more than
    one line, an unknown or weak algorithm (DSA, RSA under 2048 bits), a certificate, anything malformed."""
    if not isinstance(text, str) or len(text) > MAX_KEY_TEXT:
        raise InvalidInput(field, f"must be one OpenSSH public key line of at most {MAX_KEY_TEXT} characters")
    line = text.strip()
    if "\n" in line or "\r" in line:
        raise InvalidInput(field, "must be a single line: one public key")
    match = _KEY_LINE_RE.match(line)
    if match is None:
        raise InvalidInput(field, "is not an OpenSSH public key: expected 'ssh-ed25519 AAAA... [comment]' "
                                  "(ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa of 2048 bits or more)")
    algorithm, body, comment = match.group(1), match.group(2), match.group(3) or ""
    try:
        key = serialization.load_ssh_public_key(f"{algorithm} {body}".encode())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidInput(field, f"is not a valid {algorithm} key: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PublicKey | rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise InvalidInput(field, f"{algorithm} keys are not accepted")
    if isinstance(key, rsa.RSAPublicKey) and not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
        raise InvalidInput(field, f"RSA keys must have {MIN_RSA_BITS} to {MAX_RSA_BITS} bits, this one has "
                                  f"{key.key_size}")
    openssh = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return ParsedKey(key=key, algorithm=algorithm, openssh=openssh, fingerprint=fingerprint(key), comment=comment)


def check_validity(hours: float, *, maximum_hours: float) -> timedelta:
    """A certificate's lifetime: more than zero and at most `maximum_hours`."""
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours <= maximum_hours:
        raise InvalidInput("hours", f"must be more than 0 and at most {maximum_hours:g}")
    return timedelta(hours=float(hours))


def sign_certificate(
    *,
    ca_key: CaKey,
    public_key: PublicKey,
    principal: str,
    serial: int,
    key_id: str,
    valid_after: datetime,
    valid_before: datetime,
) -> Certificate:
    """A user certificate for one principal, valid in [valid_after, valid_before), with the usual user permissions.

    `valid_after` is set a minute early so a site clock slightly behind the portal's accepts a fresh certificate."""
    if not PRINCIPAL_RE.match(principal):
        raise InvalidInput("principal", f"{principal!r} is not a POSIX user name")
    if not KEY_ID_RE.match(key_id):
        raise InvalidInput("key_id", "must be 1 to 200 printable characters without spaces")
    if not 0 < serial < 2**64:
        raise InvalidInput("serial", "must be a positive 64-bit number")
    if valid_after.tzinfo is None or valid_before <= valid_after:
        raise InvalidInput("valid_before", "must be a time zone aware time after valid_after")
    start = int((valid_after - timedelta(minutes=1)).timestamp())
    end = int(valid_before.timestamp())
    builder = (
        SSHCertificateBuilder()
        .public_key(public_key)
        .serial(serial)
        .type(SSHCertificateType.USER)
        .key_id(key_id.encode())
        .valid_principals([principal.encode()])
        .valid_after(max(start, 0))
        .valid_before(end)
    )
    for name in USER_EXTENSIONS:
        builder = builder.add_extension(name, b"")
    cert = builder.sign(ca_key)
    text = cert.public_bytes().decode() + f" {principal}@{key_id}"
    return Certificate(serial=serial, principal=principal, key_id=key_id, valid_after=valid_after,
                       valid_before=valid_before, text=text)


def load_ca_key(pem: bytes) -> CaKey:
    """The CA's private key, from OpenSSH or PKCS#8 PEM text."""
    try:
        key = (serialization.load_ssh_private_key(pem, password=None) if b"OPENSSH PRIVATE KEY" in pem
               else serialization.load_pem_private_key(pem, password=None))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidInput("ca_key", f"cannot read the CA key: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise InvalidInput("ca_key", "the CA key must be ed25519, ecdsa or rsa")
    return key


def new_ca_key() -> tuple[ed25519.Ed25519PrivateKey, bytes]:
    """A new ed25519 CA key and its OpenSSH private key text."""
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                            serialization.NoEncryption())
    return key, pem


def ca_public_line(ca_key: CaKey, comment: str = "aifactory-user-ca") -> str:
    """The line for the sites' TrustedUserCAKeys file."""
    text = ca_key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{text.decode()} {comment}"


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def build_krl(
    *,
    ca_key: CaKey,
    revoked_serials: Iterable[int],
    revoked_key_hashes: Iterable[bytes] = (),
    version: int,
    generated_at: datetime,
    comment: str = "aifactory",
) -> bytes:
    """An OpenSSH KRL: the CA's revoked certificate serials and the SHA-256 digests of revoked public key blobs."""
    serials = sorted({int(s) for s in revoked_serials})
    if any(not 0 < s < 2**64 for s in serials):
        raise InvalidInput("revoked_serials", "serials must be positive 64-bit numbers")
    hashes = sorted(set(revoked_key_hashes))
    if any(len(h) != 32 for h in hashes):
        raise InvalidInput("revoked_key_hashes", "each must be a SHA-256 digest (32 bytes)")
    out = struct.pack(">QIQQQ", KRL_MAGIC, KRL_FORMAT_VERSION, version, int(generated_at.timestamp()), 0)
    out += _string(b"") + _string(comment.encode())
    if serials:
        subsection = b"".join(struct.pack(">Q", s) for s in serials)
        certs = _string(key_blob(ca_key)) + _string(b"")
        certs += bytes([KRL_SECTION_CERT_SERIAL_LIST]) + _string(subsection)
        out += bytes([KRL_SECTION_CERTIFICATES]) + _string(certs)
    if hashes:
        out += bytes([KRL_SECTION_FINGERPRINT_SHA256]) + _string(b"".join(_string(h) for h in hashes))
    return out


def key_hash(openssh_text: str) -> bytes:
    """SHA-256 of a public key's wire blob, from its OpenSSH text (what the KRL's hash section lists)."""
    return hashlib.sha256(base64.b64decode(openssh_text.split()[1])).digest()

