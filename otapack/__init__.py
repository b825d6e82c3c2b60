"""otapack: firmware OTA packages for cellular IoT modules.

The public API works on bytes and file objects; the ``otapack`` command is a
thin layer over it (see docs/api.md).
"""

__version__ = "0.1.0"
