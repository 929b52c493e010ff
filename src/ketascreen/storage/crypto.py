"""Authenticated encryption at rest for answers and results (AES-256-GCM).

Each value is stored as ``b"k3" + key id (8 bytes) + nonce (12 bytes) + ciphertext``,
where the plaintext is Zstandard-compressed JSON (results are large and repetitive, so
this writes about a quarter of the bytes, and Zstandard does it in half zlib's time).
Values written by earlier versions (``b"k2"``, zlib) are still read.
The key id lets a future rotation re-encrypt rows written with an older key.
The key comes from ``KETASCREEN_DATA_KEY`` (base64 of 32 bytes) or from a key file
created on first run with mode 0600 in the data folder.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import zlib
from pathlib import Path
from typing import Any

import zstandard
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic_core import to_json

_MAGIC = b"k3"  # Zstandard inside AES-GCM
_MAGIC_ZLIB = b"k2"  # zlib inside AES-GCM (earlier builds; read only)
_codecs = threading.local()  # Zstandard (de)compressors are not thread-safe


def _compress(plain: bytes) -> bytes:
    if not hasattr(_codecs, "compressor"):
        _codecs.compressor = zstandard.ZstdCompressor(level=1)
    packed: bytes = _codecs.compressor.compress(plain)
    return packed


def _decompress(packed: bytes) -> bytes:
    if not hasattr(_codecs, "decompressor"):
        _codecs.decompressor = zstandard.ZstdDecompressor()
    plain: bytes = _codecs.decompressor.decompress(packed)
    return plain


class DataKeyError(Exception):
    """The encryption key is missing, malformed, or does not match stored data."""


class Vault:
    """Encrypts and decrypts JSON values with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise DataKeyError(
                "the data key must be 32 bytes (base64 of 32 random bytes)"
            )
        self._aead = AESGCM(key)
        self._key = key
        self.key_id = hashlib.sha256(key).digest()[:8]

    def subkey(self, purpose: bytes) -> bytes:
        """A key for another purpose (e.g. access tokens), derived from the secret key.

        Never derive from ``key_id``: it is stored in clear in every sealed value.
        """
        return hmac.new(
            self._key, b"ketascreen subkey:" + purpose, hashlib.sha256
        ).digest()

    def seal(self, value: Any, context: bytes) -> bytes:
        """Encrypt a JSON-serialisable value, bound to ``context`` (e.g. the row id)."""
        return self.seal_bytes(to_json(value), context)

    def seal_bytes(self, plain: bytes, context: bytes) -> bytes:
        """Encrypt bytes (e.g. JSON already serialised), bound to ``context``."""
        nonce = os.urandom(12)
        packed = _compress(plain)
        return _MAGIC + self.key_id + nonce + self._aead.encrypt(nonce, packed, context)

    def open(self, blob: bytes, context: bytes) -> Any:
        """Decrypt a value sealed by :meth:`seal` with the same context."""
        return json.loads(self.open_bytes(blob, context))

    def open_bytes(self, blob: bytes, context: bytes) -> bytes:
        """Decrypt bytes sealed by :meth:`seal_bytes` with the same context."""
        magic = blob[:2]
        if magic not in (_MAGIC, _MAGIC_ZLIB) or blob[2:10] != self.key_id:
            raise DataKeyError("stored data was sealed with a different key")
        nonce, body = blob[10:22], blob[22:]
        packed = self._aead.decrypt(nonce, body, context)
        return _decompress(packed) if magic == _MAGIC else zlib.decompress(packed)


def load_key(env_value: str | None, key_file: Path) -> bytes:
    """Return the data key from the environment, or from (a new) key file.

    Args:
        env_value: base64 text from KETASCREEN_DATA_KEY, if set.
        key_file: where the key lives when not set in the environment.

    Returns:
        The 32-byte key.
    """
    if env_value:
        try:
            return base64.b64decode(env_value, validate=True)
        except ValueError as exc:
            raise DataKeyError("KETASCREEN_DATA_KEY is not valid base64") from exc
    if key_file.exists():
        return base64.b64decode(key_file.read_text(encoding="ascii").strip())
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = AESGCM.generate_key(bit_length=256)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(base64.b64encode(key).decode("ascii") + "\n")
    return key
