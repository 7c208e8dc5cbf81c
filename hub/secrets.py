"""Secrets at rest: the connected systems' HMAC secrets, encrypted with a Fernet key.

Contract: :class:`SecretBox` encrypts and decrypts text with one Fernet key (AES-128-CBC +
HMAC-SHA256, from ``cryptography``); a token that does not decrypt with the key raises
:class:`hub.errors.KeyAccessError` (``secrets.undecryptable``) — the key changed or the row was
tampered with. :func:`resolve_key` finds the key: ``LIENTHONG_SECRET_KEY`` when set; otherwise,
outside production mode, a key file generated once in the data dir (``secret.key``, mode 0600)
so the embedded defaults need no setup; in production a missing key is an error, because a key
stored beside the database it protects protects nothing.

Hazard: secrets are decrypted only where the HMAC is checked (:meth:`HubService.credentials`);
never log them, never put them in ``repr`` (see :class:`hub.services.contracts.SystemCredentials`).
"""

from __future__ import annotations

import os
import secrets as _stdlib_secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from hub.errors import KeyAccessError

KEY_FILE = "secret.key"


class SecretBox:
    """Encrypts and decrypts secrets with one Fernet key."""

    def __init__(self, key: bytes | str) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise KeyAccessError(
                "the secret key is not a valid Fernet key (32 url-safe base64 bytes)",
                message_vi="khóa bí mật không đúng định dạng Fernet",
                code="secrets.bad_key",
            ) from exc

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError) as exc:
            raise KeyAccessError(
                "a stored secret does not decrypt with the configured key",
                message_vi="không giải mã được bí mật đã lưu bằng khóa hiện hành",
                code="secrets.undecryptable",
            ) from exc


def generate_key() -> bytes:
    """A new Fernet key (``lienthong`` prints one for ``LIENTHONG_SECRET_KEY``)."""
    return Fernet.generate_key()


def generate_secret() -> str:
    """A new system secret: 32 random bytes, url-safe base64 (43 characters)."""
    return _stdlib_secrets.token_urlsafe(32)


def resolve_key(env_key: str | None, data_dir: Path, *, production: bool) -> bytes:
    """The Fernet key: ``env_key`` when given, else the data dir's key file (made if absent).

    Raises :class:`KeyAccessError` (``secrets.key_missing``) in production without ``env_key``.
    """
    if env_key:
        return env_key.encode("ascii")
    if production:
        raise KeyAccessError(
            "LIENTHONG_SECRET_KEY is not set (required in production mode)",
            message_vi="chưa đặt biến môi trường LIENTHONG_SECRET_KEY (bắt buộc khi vận hành)",
            code="secrets.key_missing",
        )
    path = data_dir / KEY_FILE
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    # O_EXCL: two processes starting at once must not each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    return key
