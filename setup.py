"""C extensions are declared here; everything else lives in pyproject.toml."""

from setuptools import Extension, setup

DIFF_CORE = "otapack/core/diff/"

# The diff core (suffix array + bsdiff-style scan) is built from source at
# install time; no prebuilt binaries are downloaded.  One file per job:
# suffix array construction, the scan, the passes over its diff bytes, the CPython glue.
EXTENSIONS: list[Extension] = [
    Extension(
        "otapack.core.diff._core",
        sources=[DIFF_CORE + name for name in ("sais.c", "scan.c", "dense.c", "zerorun.c", "module.c")],
        depends=[DIFF_CORE + name for name in ("diffcore.h", "sais_level.h")],
        extra_compile_args=["-O2"],
    ),
]

setup(ext_modules=EXTENSIONS)
