"""The numbers of the extension values (docs/formats/package-v1.md, "Extension values").

Standard library only, so the construct declarations
(``otapack.core.formats.extensions``) and the device's own reader
(``otapack.core.restore.extensions``) take them from one place.
"""

#: SHA-256 digests in extension values (``chain-prev-state``, ``chain-next-package``, ``layout-digest``).
DIGEST_SIZE = 32
#: Domain prefix of the flash-state digest, so it can never equal another SHA-256 otapack writes.
STATE_DIGEST_PREFIX = b"otapack-flash-state-v1\0"
#: Version byte of the ``budget`` value.
BUDGET_VERSION = 1
#: Budget figures are u32; larger values are stored as this.
BUDGET_FIELD_MAX = 0xFFFFFFFF
