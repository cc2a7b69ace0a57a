"""Signed checkpoints of the audit log, in the C2SP signed-note format (tlog-checkpoint).

A checkpoint states the log's size and the hash of its newest entry, signed with the
workspace's Ed25519 key. Kept somewhere the log's keepers cannot reach (printed, mailed,
filed with a report), it later proves that the log still extends it: every entry it covered
is still there, unchanged, and the newest ones were not cut off.

    facesift/3f9c…            origin: this workspace's audit log
    1234                      size: entries covered
    q0Pb…=                    base64 of the newest entry's SHA-256
                              (blank line)
    — facesift/3f9c… AbCd…=   signature: base64(4-byte key id ‖ 64-byte Ed25519 signature)
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from facesift.errors import FacesiftError

KEY_FILE = "audit-signing.key"
ED25519 = b"\x01"  # the signature type byte of signed notes
DASH = "\u2014"


class CheckpointError(FacesiftError):
    """A checkpoint that cannot be read or whose signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    head_sha256: str  # hex

    def body(self) -> str:
        head = base64.b64encode(bytes.fromhex(self.head_sha256)).decode()
        return f"{self.origin}\n{self.size}\n{head}\n"


def signing_key(folder: Path) -> Ed25519PrivateKey:
    """The workspace's checkpoint key, made (readable by its owner only) on first use."""
    path = folder / KEY_FILE
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        with contextlib.suppress(FileExistsError):  # another process made it first
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{path}: not an Ed25519 private key")
    return key


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _key_id(name: str, public: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + _raw(public)).digest()[:4]


def verifier_key(name: str, public: Ed25519PublicKey) -> str:
    """The note verifier key `name+keyid+base64(type ‖ key)` to keep with checkpoints."""
    encoded = base64.b64encode(ED25519 + _raw(public)).decode()
    return f"{name}+{_key_id(name, public).hex()}+{encoded}"


def sign(checkpoint: Checkpoint, key: Ed25519PrivateKey) -> str:
    """The signed note of `checkpoint`, signed by `key` under the checkpoint's origin."""
    body = checkpoint.body()
    signature = _key_id(checkpoint.origin, key.public_key()) + key.sign(body.encode())
    return f"{body}\n{DASH} {checkpoint.origin} {base64.b64encode(signature).decode()}\n"


def read(note: str, verifier: str) -> Checkpoint:
    """The checkpoint of a signed note, once its signature by `verifier` checks out."""
    name, key_id, public = _parse_verifier(verifier)
    body, sep, signatures = note.partition("\n\n")
    if not sep:
        raise CheckpointError("not a signed note: no blank line between text and signatures")
    lines = body.split("\n")
    if len(lines) < 3:
        raise CheckpointError("not a checkpoint: it needs an origin, a size and a hash")
    try:
        size = int(lines[1])
        head = base64.b64decode(lines[2], validate=True)
    except ValueError as exc:
        raise CheckpointError(f"not a checkpoint: {exc}") from None
    if len(head) != 32 or size < 0:
        raise CheckpointError("not a checkpoint: bad size or hash")
    for line in signatures.strip("\n").split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH or parts[1] != name:
            continue
        raw = base64.b64decode(parts[2])
        if raw[:4] != key_id:
            continue
        try:
            public.verify(raw[4:], (body + "\n").encode())
        except InvalidSignature:
            raise CheckpointError(f"the signature of {name} does not verify") from None
        return Checkpoint(lines[0], size, head.hex())
    raise CheckpointError(f"the checkpoint carries no signature by {name}")


def _parse_verifier(verifier: str) -> tuple[str, bytes, Ed25519PublicKey]:
    try:
        name, key_id, encoded = verifier.strip().split("+", 2)
        raw = base64.b64decode(encoded, validate=True)
        if raw[:1] != ED25519 or len(raw) != 33:
            raise ValueError("not an Ed25519 key")
        public = Ed25519PublicKey.from_public_bytes(raw[1:])
    except ValueError as exc:
        raise CheckpointError(f"not a verifier key ({exc})") from None
    if _key_id(name, public).hex() != key_id:
        raise CheckpointError("the verifier key's id does not match its key")
    return name, bytes.fromhex(key_id), public
