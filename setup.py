"""C extensions are declared here; everything else lives in pyproject.toml."""

from setuptools import Extension, setup

# The diff core (suffix array + bsdiff-style scan) is built from source at
# install time; no prebuilt binaries are downloaded.
EXTENSIONS: list[Extension] = [
    Extension(
        "otapack.core.diff._core",
        sources=["otapack/core/diff/_core.c"],
        extra_compile_args=["-O2"],
    ),
]

setup(ext_modules=EXTENSIONS)
