"""Facts the docs state that the code decides (issue 13, item 12): checked
against the code, so the two cannot contradict each other again."""

from __future__ import annotations

import re
from pathlib import Path

from otapack import api
from otapack.core.build import PackageOptions
from otapack.core.formats.delta import DEFAULT_WINDOW_SIZE

from test_partitions_fixtures import (
    COMPOSITE_LAYOUT, composite_elf, composite_pac, composite_raw, composite_segments, esp_composite,
    gpt_composite, to_hex,
)

ROOT = Path(__file__).resolve().parent.parent


def test_image_source_values_are_the_ones_written():
    row = next(line for line in (ROOT / "docs" / "formats" / "package-v1.md").read_text().splitlines()
               if line.startswith("| 6 | `image-source`"))
    documented = set(re.findall(r"`([a-z-]+)`", row.split("|")[4].split("absent")[0]))
    layout = str(COMPOSITE_LAYOUT)
    elf, segments = composite_elf(), composite_segments()
    images = [
        (composite_raw(), layout), (esp_composite(), None), (gpt_composite(), None), (composite_pac(), None),
        (elf, None), (elf, layout), (to_hex(segments), None), (to_hex(segments), layout),
        (to_hex(segments, "srec"), None), (to_hex(segments, "srec"), layout),
    ]
    written = set()
    for data, with_layout in images:
        package = api.build_full(api.read_firmware_bytes(data, layout=with_layout), PackageOptions())
        value = api.read_package(package).header.extension("image-source")
        if value is not None:
            written.add(value.decode())
    # every value written is documented; the one not built here is the MBR table's (same code path as GPT)
    assert written <= documented and documented - written == {"mbr"}
    assert {"elf", "ihex", "srec"}.isdisjoint(documented)


def test_default_window_size_agrees_with_the_docs():
    assert PackageOptions().window_size == DEFAULT_WINDOW_SIZE == 256 * 1024
    cli = (ROOT / "docs" / "cli.md").read_text()
    assert "`--window-size SIZE` | `diff`, `minimal`: the patch window" in cli and "default 256 KiB" in cli
    assert "| `default` | 1,048,576 | 262,144 |" in cli
    assert "The default is **256 KiB**" in (ROOT / "docs" / "formats" / "delta-v1.md").read_text()


def _error_classes(base):
    for sub in base.__subclasses__():
        yield sub
        yield from _error_classes(sub)


def test_every_exit_code_the_cli_returns_is_in_the_table():
    """docs/cli.md's table is EXIT_CODES (test_cli); here EXIT_CODES covers every
    code the CLI can return: each error class's, the signals', and each literal
    code otapack.cli.main returns."""
    from otapack import errors
    import otapack.cli

    codes = {cls.exit_code for cls in _error_classes(errors.OtapackError)} | {errors.OtapackError.exit_code}
    codes |= set(errors.SIGNAL_EXIT_CODES.values())
    source = Path(otapack.cli.__file__).read_text()
    literal = {int(n) for n in re.findall(r"^\s*return (\d+)\s*$", source, re.M)}
    assert literal, "the scan of otapack/cli/__init__.py found no literal exit code"
    codes |= literal | {0}
    assert codes <= set(errors.EXIT_CODES), sorted(codes - set(errors.EXIT_CODES))
    assert {129, 130, 143} <= codes
    # and the table has no code nothing returns
    assert set(errors.EXIT_CODES) <= codes, sorted(set(errors.EXIT_CODES) - codes)


def test_shell_completion_works_as_documented():
    import os
    import subprocess
    import sys

    cli_doc = (ROOT / "docs" / "cli.md").read_text()
    assert "_OTAPACK_COMPLETE=bash_source otapack" in cli_doc
    exe = Path(sys.executable).parent / "otapack"

    def complete(words: str, cword: int) -> list[str]:
        env = dict(os.environ, COMP_WORDS=words, COMP_CWORD=str(cword), _OTAPACK_COMPLETE="bash_complete")
        out = subprocess.run([str(exe)], env=env, capture_output=True, text=True, timeout=60, check=True).stdout
        return [line.split(",", 1)[1] for line in out.splitlines()]

    assert complete("otapack di", 1) == ["diff", "digest"]
    assert complete("otapack diff --profile ", 3) == sorted(api.BUILD_PROFILES)
    script = subprocess.run([str(exe)], env=dict(os.environ, _OTAPACK_COMPLETE="bash_source"),
                            capture_output=True, text=True, timeout=60, check=True).stdout
    assert "complete -o nosort -F _otapack_completion otapack" in script


def test_ram_figures_in_package_v1_are_what_the_builder_declares(synth_old, synth_new):
    text = " ".join((ROOT / "docs" / "formats" / "package-v1.md").read_text().split())
    old, new = api.FirmwareImage.single(synth_old), api.FirmwareImage.single(synth_new)
    delta = api.read_package(api.build_delta(old, new, PackageOptions())).header.ram_required
    full = api.read_package(api.build_full(new, PackageOptions())).header.ram_required
    assert f"With the defaults the 159 KB synthesizer delta declares {delta:,} B" in text
    assert f"its full package {full:,} B" in text
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"the example delta declares {delta:,} B and its full package {full:,} B" in readme
