"""Authenticated encryption at rest for answers and results (AES-256-GCM), with a keyring.

Each value is stored as ``b"k3" + key id (8 bytes) + nonce (12 bytes) + ciphertext``,
where the plaintext is Zstandard-compressed JSON (results are large and repetitive, so
this writes about a quarter of the bytes, and Zstandard does it in half zlib's time).
Values written by earlier versions (``b"k2"``, zlib) are still read.

The keyring is one current key, which seals every new value, and any number of retired
keys, which only open values sealed before a rotation (``storage/rotation.py``
re-seals those). The key id in each value says which key opens it.

Where the keys come from (docs/deployment.md, "Key rotation"):

- ``KETASCREEN_DATA_KEY`` (base64 of 32 bytes) is the current key, and
  ``KETASCREEN_RETIRED_DATA_KEYS`` (comma-separated base64) the retired ones; or
- without it, the key file ``data.key`` in the data folder, created on first run with
  mode 0600: its first key line is the current key, later key lines are retired keys
  (blank lines and lines starting with ``#`` are ignored).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
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


def key_id(key: bytes) -> bytes:
    """The 8-byte id stored in clear in every value a key seals (not secret)."""
    return hashlib.sha256(key).digest()[:8]


def sealed_key_id(blob: bytes) -> bytes:
    """The id of the key that sealed a stored value."""
    return blob[2:10]


class Vault:
    """Seals JSON values with the current key; opens them with any key of the ring."""

    def __init__(self, key: bytes, retired: Sequence[bytes] = ()) -> None:
        for candidate in (key, *retired):
            if len(candidate) != 32:
                raise DataKeyError(
                    "a data key must be 32 bytes (base64 of 32 random bytes)"
                )
        self._aead = AESGCM(key)
        self._key = key
        self.key_id = key_id(key)
        self._retired = tuple(retired)
        self._openers = {key_id(k): AESGCM(k) for k in (*retired, key)}
        self.retired_ids = tuple(key_id(k) for k in retired)

    def subkey(self, purpose: bytes) -> bytes:
        """A key for another purpose (e.g. access tokens), derived from the current key.

        Never derive from ``key_id``: it is stored in clear in every sealed value.
        """
        return _derive(self._key, purpose)

    def retired_subkeys(self, purpose: bytes) -> list[bytes]:
        """The same subkey derived from each retired key (to find rows not yet
        re-sealed after a rotation)."""
        return [_derive(key, purpose) for key in self._retired]

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
        """Decrypt bytes sealed by :meth:`seal_bytes` (with any key of the ring).

        Raises:
            DataKeyError: the value was sealed with a key that is not in the ring.
            cryptography.exceptions.InvalidTag: the value or its context was changed.
        """
        magic = blob[:2]
        aead = self._openers.get(sealed_key_id(blob))
        if magic not in (_MAGIC, _MAGIC_ZLIB) or aead is None:
            raise DataKeyError(
                "stored data was sealed with a different key (key id "
                f"{sealed_key_id(blob).hex()}), neither the current data key nor a "
                "retired one: add that key as a retired key (docs/deployment.md)"
            )
        nonce, body = blob[10:22], blob[22:]
        packed = aead.decrypt(nonce, body, context)
        return _decompress(packed) if magic == _MAGIC else zlib.decompress(packed)

    def reseal(self, blob: bytes, context: bytes) -> bytes:
        """The same value sealed again with the current key (same context)."""
        return self.seal_bytes(self.open_bytes(blob, context), context)


def _derive(key: bytes, purpose: bytes) -> bytes:
    return hmac.new(key, b"ketascreen subkey:" + purpose, hashlib.sha256).digest()


@dataclass(frozen=True)
class KeyRing:
    """The current data key, the retired ones, and the key file they came from.

    ``key_file`` is None when the keys come from the environment (then a rotation
    cannot make a new key itself: the operator sets it).
    """

    current: bytes
    retired: tuple[bytes, ...] = ()
    key_file: Path | None = None

    def vault(self) -> Vault:
        """A vault that seals with the current key and opens with every key."""
        return Vault(self.current, self.retired)


def load_keyring(
    env_value: str | None, retired_value: str | None, key_file: Path
) -> KeyRing:
    """Return the keyring from the environment, or from (a new) key file.

    Args:
        env_value: base64 text from KETASCREEN_DATA_KEY, if set.
        retired_value: comma-separated base64 from KETASCREEN_RETIRED_DATA_KEYS.
        key_file: where the keys live when not set in the environment.

    Returns:
        The keyring.

    Raises:
        DataKeyError: a key is not valid base64, or the key file has no key.
    """
    if env_value:
        retired = [v for v in (retired_value or "").split(",") if v.strip()]
        return KeyRing(
            _decode(env_value, "KETASCREEN_DATA_KEY"),
            tuple(_decode(v, "KETASCREEN_RETIRED_DATA_KEYS") for v in retired),
        )
    if key_file.exists():
        lines = [
            line.strip()
            for line in key_file.read_text(encoding="ascii").splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        if not lines:
            raise DataKeyError(f"{key_file}: holds no key")
        keys = [_decode(line, str(key_file)) for line in lines]
        return KeyRing(keys[0], tuple(keys[1:]), key_file)
    ring = KeyRing(AESGCM.generate_key(bit_length=256), (), key_file)
    write_key_file(ring, create=True)
    return ring


def write_key_file(ring: KeyRing, *, create: bool = False) -> None:
    """Write the ring to its key file (mode 0600): a temporary file, then a rename.

    A crash leaves either the old file or the new one, never half of one.

    Args:
        ring: the keys; ``ring.key_file`` must be set.
        create: the first key file (refuse to replace one that appeared meanwhile).
    """
    if ring.key_file is None:
        raise DataKeyError("the keys come from the environment, not a key file")
    path = ring.key_file
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [_encode(ring.current)]
    if ring.retired:
        lines.append(
            "# retired keys: they open values sealed before a rotation, never seal; "
            "`ketascreen keys drop-retired` removes them once nothing needs them"
        )
        lines.extend(_encode(key) for key in ring.retired)
    text = "\n".join(lines) + "\n"
    if create:
        _write_new(path, text)  # fails if a key file appeared meanwhile
    else:
        temporary = path.with_name(path.name + ".new")
        temporary.unlink(missing_ok=True)  # left by a crash
        _write_new(temporary, text)
        temporary.replace(path)
    _sync_folder(path.parent)


def _write_new(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _decode(text: str, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:  # binascii.Error is a ValueError
        raise DataKeyError(f"{source} is not valid base64") from exc
    if len(key) != 32:
        raise DataKeyError(
            f"{source}: a data key must be 32 bytes (base64 of 32 random bytes)"
        )
    return key


def _encode(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")
