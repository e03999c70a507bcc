"""API key format, generation and hashing (pure).

A key reads ``hf_<prefix>_<secret>``: the prefix (12 characters) finds the stored row, the
secret (40 characters, ~238 bits) makes it unguessable. Only SHA-256 of the whole key is stored:
a fast hash is right for random high-entropy secrets (there is no password to brute-force).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass

_ALPHABET = string.ascii_letters + string.digits
_PREFIX_LEN = 12
_SECRET_LEN = 40
_KEY_RE = re.compile(rf"^hf_([A-Za-z0-9]{{{_PREFIX_LEN}}})_([A-Za-z0-9]{{{_SECRET_LEN}}})$")

SCOPES = ("events:write", "read", "admin")


@dataclass(frozen=True)
class NewKey:
    plaintext: str
    prefix: str
    key_hash: str


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def generate_key() -> NewKey:
    prefix = _random(_PREFIX_LEN)
    plaintext = f"hf_{prefix}_{_random(_SECRET_LEN)}"
    return NewKey(plaintext=plaintext, prefix=prefix, key_hash=hash_key(plaintext))


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def parse_prefix(candidate: str) -> str | None:
    """The lookup prefix of a well-formed key, or None when the string is not a key."""
    match = _KEY_RE.match(candidate)
    return match.group(1) if match else None


def matches(candidate: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    return hmac.compare_digest(hash_key(candidate), stored_hash)


def grants(held: frozenset[str] | set[str], required: str) -> bool:
    """``admin`` can do everything; other scopes grant only themselves."""
    return "admin" in held or required in held
