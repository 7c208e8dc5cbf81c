"""Password hashing for the console's accounts: argon2id (RFC 9106) through ``argon2-cffi``.

The stored string is self-describing (``$argon2id$v=19$m=…,t=…,p=…$salt$hash``), so parameters
can be raised later: :meth:`Argon2Hasher.needs_rehash` tells the login to store a new hash.
The defaults are the library's (RFC 9106's second recommended option: 64 MiB, 3 passes); tests
use :data:`FAST` to stay quick.
"""

from __future__ import annotations

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

#: Cheap parameters for tests only (never for stored accounts).
FAST: dict[str, int] = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


class Argon2Hasher:
    """:class:`hub.ports.PasswordHasher` with argon2id."""

    def __init__(
        self, *, time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 4
    ) -> None:
        self._ph = _Argon2(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)

    def hash(self, password: str) -> str:
        return self._ph.hash(password)

    def verify(self, hashed: str, password: str) -> bool:
        try:
            return self._ph.verify(hashed, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, hashed: str) -> bool:
        try:
            return self._ph.check_needs_rehash(hashed)
        except InvalidHashError:
            return True
