"""The release manifest: every key declared, every mistake one error line with
its key path (exit 3), every reference checked before any build work."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import error_line, run
from otapack.errors import InputError, UsageError
from otapack.features.release.manifest import (
    BUDGET_FIELDS, BUILD_FIELDS, MODEL_FIELDS, RELEASE_FIELDS, TOP_FIELDS, parse_manifest,
)
from release_helpers import copy_examples, edit

GOOD = """
manifest_version = 1
[release]
name = "r1"
url_base = "https://example.com/fw"
[[models]]
name = "m"
model = "EC600N"
security_counter = 2
budget = { download = 4096, ram = 65536 }
target = { version = "V2", image = "new.bin", file_version = "EC600N_V2" }
sources = [{ version = "V1", image = "old.bin" }]
"""


def parse(text: str):
    return parse_manifest(text, source="m.toml")


def problem(text: str) -> str:
    with pytest.raises(InputError) as info:
        parse(text)
    assert info.value.exit_code == 3
    return str(info.value)


def test_a_good_manifest_gives_frozen_validated_objects(tmp_path):
    manifest = parse_manifest(GOOD, source="m.toml", base=tmp_path)
    model = manifest.models[0]
    assert manifest.settings.name == "r1" and manifest.settings.full_fallback_ratio == 0.9
    assert manifest.settings.verify is True and manifest.settings.diff_algorithm == "otadiff"
    assert (model.name, model.model, model.security_counter) == ("m", "EC600N", 2)
    assert model.budget.download == 4096 and model.budget.ram == 65536
    assert model.target.image.path == tmp_path / "new.bin" and model.target.file_version == "EC600N_V2"
    assert [s.version for s in model.sources] == ["V1"]
    for obj in (manifest, manifest.settings, model, model.budget, model.target):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, dataclasses.fields(obj)[0].name, None)


@pytest.mark.parametrize("old, new, expected", [
    ('url_base = "https://example.com/fw"', 'url_base = "https://example.com/fw"\nurl_bsae = "x"',
     "m.toml: release.url_bsae: unknown key (did you mean 'url_base'?)"),
    ("security_counter = 2", "security_countr = 2",
     "m.toml: models[0].security_countr: unknown key (did you mean 'security_counter'?)"),
    ('image = "old.bin"', 'image = "old.bin", imag = "x"',
     "m.toml: models[0].sources[0].imag: unknown key (did you mean 'image'?)"),
    ("ram = 65536", "ram = 65536, flash = 1",
     "m.toml: models[0].budget.flash: unknown key (allowed: download, ram, scratch)"),
    ("manifest_version = 1", "manifest_version = 1\nextra = true",
     "m.toml: extra: unknown key (allowed: manifest_version, release, models)"),
])
def test_unknown_keys_are_errors_with_their_key_path(old, new, expected):
    assert problem(GOOD.replace(old, new)) == expected


@pytest.mark.parametrize("old, new, expected", [
    ("security_counter = 2", 'security_counter = "2"', "models[0].security_counter: must be an integer, not string"),
    ("security_counter = 2", "security_counter = -1", "models[0].security_counter: -1 is outside 0..4294967295"),
    ("security_counter = 2\n", "", "models[0].security_counter: missing required key"),
    ('name = "m"', 'name = "a b"', "models[0].name: 'a b' is not a name"),
    ('version = "V1"', 'version = "V2"', "models[0].sources[0].version: 'V2' is the target version"),
    ('sources = [{ version = "V1", image = "old.bin" }]',
     'sources = [{ version = "V1", image = "a" }, { version = "V1", image = "b" }]',
     "models[0].sources[1].version: 'V1' is also models[0].sources[0].version"),
    ('image = "old.bin"', 'image = "old.bin", file_version = "x"', "models[0].sources[0].file_version: only the target"),
    ("manifest_version = 1", "manifest_version = 2", "manifest_version: version 2 is not supported"),
    ("[release]", "full_fallback_ratio = 1\n[release]", "full_fallback_ratio: unknown key"),
    ('url_base = "https://example.com/fw"', 'url_base = "https://example.com/fw"\nfull_fallback_ratio = 1.5',
     "release.full_fallback_ratio: must be above 0 and at most 1, got 1.5"),
    ('url_base = "https://example.com/fw"', 'url_base = "https://example.com/fw"\ndiff_algorithm = "xdelta"',
     "release.diff_algorithm: unknown diff algorithm 'xdelta'"),
    ("download = 4096", "download = true", "models[0].budget.download: must be a byte count, a partition name"),
    ("download = 4096", "download = -4", "models[0].budget.download: must not be negative, got -4"),
    ('model = "EC600N"', 'model = "EC600Ñ"', "models[0].model: 'EC600Ñ' must be ASCII"),
    ('target = { version = "V2", image = "new.bin", file_version = "EC600N_V2" }\n', "",
     "models[0].target: missing required key"),
])
def test_bad_values_name_the_key(old, new, expected):
    assert expected in problem(GOOD.replace(old, new))


def test_more_mistakes():
    assert problem("manifest_version = 1\n[release\n").startswith("m.toml: invalid TOML: ")
    text = GOOD + '[[models]]\nname = "M"\nmodel = "x"\nsecurity_counter = 1\ntarget = {version = "1", image = "a"}\n'
    assert problem(text) == "m.toml: models[1].name: 'M' is also models[0].name"
    head = 'manifest_version = 1\nmodels = {models}\n[release]\nname = "r"\nurl_base = "https://e.com"\n'
    assert problem(head.format(models="[]")) == "m.toml: models: names no model"
    assert problem(head.format(models="3")) == "m.toml: models: must be an array of tables, not integer"
    assert problem(head.format(models="[1]")) == "m.toml: models: must be an array of tables, not array"


def test_every_schema_table_has_unique_keys():
    for table in (TOP_FIELDS, RELEASE_FIELDS, MODEL_FIELDS, BUDGET_FIELDS, BUILD_FIELDS):
        names = [f.name for f in table]
        assert len(names) == len(set(names))


@pytest.fixture
def example(tmp_path):
    return copy_examples(tmp_path)


@pytest.fixture
def no_builds(monkeypatch):
    """Any build work fails the test: references must be checked first."""
    import otapack.features.release.worker as worker

    def refuse(*args, **kwargs):
        raise AssertionError("build work started before every reference was checked")

    for kind in list(worker.BUILDERS):
        monkeypatch.setitem(worker.BUILDERS, kind, refuse)


@pytest.mark.parametrize("old, new, code, message", [
    ("security_counter = 7", "security_countr = 7", 3,
     "error: release.toml: models[1].security_countr: unknown key (did you mean 'security_counter'?)"),
    ('image = "../firmware/synthesizer-v2.bin"', 'image = "../firmware/missing.bin"', 3,
     "error: release.toml: models[1].sources[1].image: image {dir}/../firmware/missing.bin does not exist"),
    ('signing_key = "keys/example-release.pem"\nbudget = { download = 0x10000 }',
     'signing_key = "keys/none.pem"\nbudget = { download = 0x10000 }', 3,
     "error: release.toml: models[2].signing_key: signing key {dir}/keys/none.pem does not exist"),
    ('layout = "../minimal-system/layout.toml"', 'layout = "../minimal-system/nolayout.toml"', 3,
     "error: release.toml: models[0].layout: layout {dir}/../minimal-system/nolayout.toml does not exist"),
    ('layout = "../minimal-system/layout.toml"\n', "", 3,
     "error: release.toml: models[0].minimal_system: a minimal-system upgrade needs the model's layout with a "
     "[minimal_system] table (docs/minimal-system.md)"),
    ("budget = { download = 0x10000 }", 'budget = { download = "app" }', 3,
     "error: release.toml: models[2].budget.download: names partition 'app', which the target image does not "
     "have (partitions: image)"),
    ('url_base = "https://qpyota.s3.us-west-2.amazonaws.com/fw/2025.06"', 'url_base = "ftp://x/fw"', 2,
     "error: release.toml: release.url_base: the URL base must be an http:// or https:// URL, got 'ftp://x/fw/sam3x-mini'"),
])
def test_references_are_checked_before_any_build_work(example, no_builds, tmp_path, capsys, old, new, code, message):
    edit(example, old, new)
    out = tmp_path / "out"
    got, stdout, err = run(capsys, "release", example, "-o", out)
    assert (got, stdout) == (code, "")
    assert error_line(err) == message.format(dir=example.parent)
    assert not out.exists()  # nothing written, not even the cache


def test_a_source_that_cannot_make_a_package_is_refused_up_front(example, no_builds, tmp_path, capsys):
    # A single-image build as a source of the layout model: the layout cannot split it.
    edit(example, 'image = "../minimal-system/old.bin"', 'image = "../firmware/synthesizer-v1.bin"')
    code, _, err = run(capsys, "release", example, "-o", tmp_path / "out")
    assert code == 3
    assert error_line(err).startswith("error: release.toml: models[0].sources[0].image: ")


def test_the_output_folder_is_checked_first(example, no_builds, tmp_path, capsys):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    code, _, err = run(capsys, "release", example, "-o", busy)
    assert code == 6
    assert error_line(err) == (f"error: {busy} is not empty and holds no otapack release (release.json): "
                               "refusing to write a release into it (option --output)")
    assert run(capsys, "release", example, "-o", tmp_path / "no" / "such")[0] == 6
    # outputs never replace an input: the release folder is where an input lives
    edit(example, 'image = "firmware/programmer-0.8.0.bin"', 'image = "../out/programmer/programmer_0.9.0_full.pack"')
    inputs_dir = example.parent.parent / "out" / "programmer"
    inputs_dir.mkdir(parents=True)
    (inputs_dir / "programmer_0.9.0_full.pack").write_bytes((example.parent / "firmware/programmer-0.8.0.bin").read_bytes())
    (inputs_dir.parent / "release.json").write_text('{"format": "otapack-release-v1"}')
    code, _, err = run(capsys, "release", example, "-o", inputs_dir.parent)
    assert code == 6 and "would replace an input of the release" in error_line(err)


def test_executor_options_are_validated(capsys, example, tmp_path, no_builds):
    from otapack.features.release.executors import ExecutorOptions

    with pytest.raises(UsageError, match="unknown executor 'spark'"):
        ExecutorOptions("spark")
    with pytest.raises(UsageError, match="jobs must be 1..256"):
        ExecutorOptions("local", 0)
    code, _, err = run(capsys, "release", example, "-o", tmp_path / "o", "--ray-address", "127.0.0.1:1")
    assert code == 2
    assert error_line(err) == "error: a Ray address needs the ray executor (options --ray-address, --executor)"
