"""``SigningOptions``, without importing cryptography.

Every package-writing command builds one, signed or not; an unsigned
build (the common case) then never loads cryptography, about 50 ms of the
command's start.  The signing itself is in ``otapack.features.signing``, loaded only to sign
or to check a signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from otapack.features.signing import PrivateKey


@dataclass(frozen=True)
class SigningOptions:
    """How a builder signs its packages: with ``key``, or not at all (None)."""

    key: PrivateKey | None = None

    def sign(self, package: bytes) -> bytes:
        if self.key is None:
            return package
        from otapack.features.signing import sign_package

        return sign_package(package, self.key)

    def signature_check(self) -> Callable[[bytes, bytes], str] | None:
        """The ``DeviceOptions.signature_check`` of a device that trusts this key (None: unsigned)."""
        if self.key is None:
            return None
        from otapack.features.signing import make_signature_check

        return make_signature_check([self.key.public])
