"""``otapack release`` on the shipped example manifest: the report, the
packages and job documents it writes, release.html in headless Chromium, the
cache, and the same bytes from the local pool (1 and 2 workers) and Ray."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import error_line, run
from otapack.cli import main
from release_helpers import ROOT, copy_examples, edit, tree_digests

INSTALL_HINT = "run scripts/install-test-deps.sh (it installs Debian's chromium)"
#: The example's routes: a device on each deployed version gets this.
EXPECTED_ROUTES = {("sam3x-mini", "V1"): "minimal-system", ("synth", "1"): "delta", ("synth", "2"): "delta",
                   ("programmer", "0.8.0"): "delta", ("programmer", "factory-test"): "full"}


def release(*args) -> tuple[int, str, str]:
    """The CLI in-process with its own stdout/stderr (fixtures cannot use capsys)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The example release built once, in-process (1 job), with --json."""
    where = tmp_path_factory.mktemp("release")
    manifest = copy_examples(where)
    out = where / "out"
    code, stdout, err = release("release", manifest, "-o", out, "--json")
    assert code == 0, err
    return manifest, out, json.loads(stdout)


def test_the_report_lists_every_package_with_its_figures(built):
    _, out, result = built
    data = (out / "release.json").read_bytes()
    document = json.loads(data)
    assert result["release"] == document
    assert data == (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()  # stable, sorted
    assert document["format"] == "otapack-release-v1" and document["release"] == "2025.06"
    packages = document["packages"]
    assert [p["path"] for p in packages] == sorted(p["path"] for p in packages)
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*.pack") if ".otapack-cache" not in p.parts}
    assert {p["path"] for p in packages} == on_disk
    for p in packages:
        blob = (out / p["path"]).read_bytes()
        assert p["size"] == len(blob) and p["sha256"] == hashlib.sha256(blob).hexdigest()
        assert p["role"] in ("full", "delta", "stage1", "stage2")
        assert p["target_version"] and (p["source_version"] is None) == (p["role"] == "full")
        assert p["ram_required"] > 0 and p["flash_needed"] >= p["size"]
        assert p["flash_needed"] == -(-p["size"] // p["erase_block"]) * p["erase_block"] + p["scratch_flash"]
        assert p["partitions"] and all({"name", "operation", "reason", "payload_bytes"} <= set(q)
                                       for q in p["partitions"])
        assert sum(p["operations"].values()) == len(p["partitions"])
        assert p["signature"]["algorithm"] == "ed25519"
    totals = document["totals"]
    assert totals["packages"] == len(packages) and totals["package_bytes"] == sum(p["size"] for p in packages)
    assert totals["methods"] == {"delta": 3, "full": 1, "minimal-system": 1}


def test_routes_follow_the_budget_and_the_fallback_ratio(built):
    _, _, result = built
    document = result["release"]
    ratio = document["settings"]["full_fallback_ratio"]
    routes = {(m["name"], r["source_version"]): r["method"] for m in document["models"] for r in m["routes"]}
    assert routes == EXPECTED_ROUTES
    for model in document["models"]:
        full_fit = model["full"]["fit"]
        for r in model["routes"]:
            c = {x["method"]: x for x in r["candidates"]}
            delta, full = c["delta"], c["full"]
            for candidate in r["candidates"]:  # fits is recomputed from the figures
                assert candidate["fits"] == all(
                    (s["download_area"] is None or s["flash_needed"] <= s["download_area"])
                    and (s["ram_budget"] is None or s["ram_required"] <= s["ram_budget"]) for s in candidate["stages"])
            assert full["fits"] == full_fit["fits"]
            if r["method"] == "delta":
                assert delta["fits"] and (delta["download_bytes"] < ratio * full["download_bytes"] or not full["fits"])
            elif r["method"] == "full":
                assert full["fits"] and (not delta["fits"] or delta["download_bytes"] >= ratio * full["download_bytes"])
            else:
                assert not delta["fits"] and not full["fits"] and c["minimal-system"]["fits"]
            assert r["download_bytes"] == c[r["method"]]["download_bytes"]
    mini = next(m for m in document["models"] if m["name"] == "sam3x-mini")
    assert mini["full"]["job"] is None  # the full package does not fit its download area: no job for it


def test_every_route_restores_the_target_and_is_signed_by_the_model_key(built):
    from otapack.api import (DeviceOptions, load_firmware, load_public_key, make_signature_check, verify_chain,
                             verify_package)

    manifest, out, result = built
    document = result["release"]
    key = load_public_key(manifest.parent / "keys" / "example-release.pem")
    device = DeviceOptions(signature_check=make_signature_check([key]))
    for model in document["models"]:
        layout = (manifest.parent / model["layout"]) if model["layout"] else None
        target = load_firmware(manifest.parent / model["target"]["image"], layout)
        for r in model["routes"]:
            old = load_firmware(manifest.parent / r["source"]["image"], layout)
            packages = [(out / p).read_bytes() for p in r["packages"]]
            if r["method"] == "minimal-system":
                report = verify_chain(packages, old, target, device)
            else:
                report = verify_package(packages[0], old, target, device)
            assert report.error is None, (model["name"], r["source_version"], report.error)


def test_job_documents_are_valid_and_name_the_route_packages(built):
    from otapack.api import check_job_bytes

    _, out, result = built
    document = result["release"]
    jobs = {j["path"]: j for j in document["jobs"]}
    packages = {p["path"]: p for p in document["packages"]}
    for model in document["models"]:
        for r in model["routes"]:
            data = (out / r["job"]).read_bytes()
            assert check_job_bytes(data).ok
            job = json.loads(data)[0]
            assert [f["fileName"] for f in job["files"]] == [Path(p).name for p in r["packages"]]
            for f, path in zip(job["files"], r["packages"]):
                assert f["fileSha256"] == packages[path]["sha256"] and f["fileSize"] == packages[path]["size"]
                assert f["fileSource"]["url"] == ("${aws:iot:s3-presigned-url:https://qpyota.s3.us-west-2.amazonaws.com/"
                                                  f"fw/2025.06/{model['name']}/{Path(path).name}}}")
            assert jobs[r["job"]]["file_version"] == model["target"]["file_version"]
    synth = next(m for m in document["models"] if m["name"] == "synth")
    assert synth["target"]["file_version"] == "SYNTH_BUILD_3"


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(f"chromium is not installed: {INSTALL_HINT}")
    return path


class _Page(HTMLParser):
    """What a reader sees: the text, the size charts' bars and the package sections."""

    def __init__(self):
        super().__init__()
        self.text, self.bars, self.charts, self.sections = [], [], 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "svg" and "size-chart" in (attrs.get("class") or ""):
            self.charts += 1
        if tag == "rect" and attrs.get("class") == "bar":
            self.bars.append(int(attrs["data-bytes"]))
        if tag == "details" and attrs.get("class") == "package":
            self.sections.append(attrs["data-path"])

    def handle_data(self, data):
        self.text.append(data)


def test_release_html_renders_in_chromium(built, tmp_path):
    _, out, result = built
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--dump-dom", (out / "release.html").as_uri()],
            capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    page = _Page()
    page.feed(proc.stdout)
    text = " ".join(" ".join(page.text).split())
    document = result["release"]
    assert "Release 2025.06" in text
    assert "3 models, 5 upgrade routes (3 delta, 1 full, 1 minimal-system), 8 packages" in text
    packages = document["packages"]
    assert sorted(page.sections) == [p["path"] for p in packages]
    assert page.charts == len(document["models"])
    assert sorted(page.bars) == sorted(p["size"] for p in packages)
    for p in packages:
        assert p["path"] in text and f"{p['size']:,}" in text
    for model in document["models"]:
        for r in model["routes"]:
            assert r["reason"] in text
            for change in r["changes"]:
                assert change["partition"] in text


def test_a_rerun_builds_nothing_and_writes_the_same_bytes(built):
    manifest, out, first = built
    before = tree_digests(out)
    inodes = {name: (out / name).stat().st_ino for name in before}
    code, stdout, err = release("release", manifest, "-o", out, "--json")
    assert code == 0, err
    run_info = json.loads(stdout)["run"]
    assert run_info["cache"]["hits"] == len(run_info["cache"]["jobs"]) == 9
    assert run_info["cache"]["misses"] == run_info["built"] == 0
    assert tree_digests(out) == before
    assert {name: (out / name).stat().st_ino for name in before} == inodes  # nothing rewritten


def test_a_corrupt_cache_entry_is_detected_and_rebuilt(built):
    manifest, out, _ = built
    before = tree_digests(out)
    objects = sorted((out / ".otapack-cache" / "v1" / "objects").rglob("*"))
    victim = next(p for p in objects if p.is_file())
    victim.write_bytes(victim.read_bytes()[:-1] + b"\0")
    code, stdout, err = release("release", manifest, "-o", out, "--json")
    assert code == 0, err
    cache = json.loads(stdout)["run"]["cache"]
    assert (cache["corrupt"], cache["misses"], cache["hits"]) == (1, 1, 8)
    assert tree_digests(out) == before
    code, stdout, _ = release("release", manifest, "-o", out, "--json")  # and the rebuilt entry is good
    assert json.loads(stdout)["run"]["cache"]["hits"] == 9


@pytest.fixture
def private_copy(built, tmp_path):
    """The built release and its manifest, copied so a test may edit them."""
    manifest, out, _ = built
    where = tmp_path / "copy"
    shutil.copytree(manifest.parent.parent, where / "examples")
    shutil.copytree(out, where / "out")
    return where / "examples" / "release" / "release.toml", where / "out"


def test_a_manifest_edit_rebuilds_only_what_changed(private_copy, capsys):
    manifest, out = private_copy
    edit(manifest, "security_counter = 7", "security_counter = 8")  # synth's three packages change
    edit(manifest, '    { version = "factory-test", image = "../firmware/synthesizer-v1.bin" },\n', "")
    code, stdout, err = run(capsys, "release", manifest, "-o", out, "--json")
    assert code == 0, err
    result = json.loads(stdout)
    states = result["run"]["cache"]["jobs"]
    assert {k for k, v in states.items() if v == "miss"} == {"synth 3 full", "synth 1->3 delta", "synth 2->3 delta"}
    assert result["run"]["cache"]["hits"] == 5
    # the factory-test route is gone, and so is its job document
    assert result["removed"] == ["programmer/jobs/programmer_factory-test-0.9.0.json"]
    assert not (out / result["removed"][0]).exists()
    assert {p["security_counter"] for p in result["release"]["packages"] if p["model"] == "synth"} == {8}


def test_a_scratch_budget_patches_in_place_where_two_stages_were_needed(private_copy, capsys):
    """budget.scratch reaches the builder: the small-flash model's delta is
    patched in place within it, fits its 32 KiB download area, and replaces
    the two minimal-system stages (fewer bytes); the other models' packages
    come from the cache unchanged."""
    from otapack.api import load_firmware, read_package, verify_package

    manifest, out = private_copy
    edit(manifest, 'minimal_system = "../minimal-system/minimal.bin"\n',
         'minimal_system = "../minimal-system/minimal.bin"\nbudget = { scratch = 0x4000 }\n')
    code, stdout, err = run(capsys, "release", manifest, "-o", out, "--json")
    assert code == 0, err
    document = json.loads(stdout)["release"]
    mini = next(m for m in document["models"] if m["name"] == "sam3x-mini")
    assert mini["budget"]["scratch"] == 0x4000
    (route,) = mini["routes"]
    candidates = {c["method"]: c for c in route["candidates"]}
    assert route["method"] == "delta" and candidates["delta"]["fits"]
    assert route["download_bytes"] < candidates["minimal-system"]["download_bytes"]
    (path,) = route["packages"]
    package = (out / path).read_bytes()
    header = read_package(package, check_digest=False)
    assert header.partition("app").operation == "delta-in-place"
    assert 0 < header.header.scratch_flash <= 0x4000
    layout = manifest.parent.parent / "minimal-system" / "layout.toml"
    old = load_firmware(manifest.parent.parent / "minimal-system" / "old.bin", layout)
    new = load_firmware(manifest.parent.parent / "minimal-system" / "new.bin", layout)
    assert verify_package(package, old, new).error is None


def test_a_failed_release_writes_nothing_and_keeps_what_it_built(tmp_path, capsys):
    manifest = copy_examples(tmp_path)
    out = tmp_path / "out"
    edit(manifest, "budget = { download = 0x10000 }", "budget = { download = 0x2000 }")  # programmer: nothing fits
    cache = ("--cache", out / "build-cache")  # a cache inside the release folder, by another name
    code, stdout, err = run(capsys, "-q", "release", manifest, "-o", out, *cache)
    assert code == 7 and stdout == ""
    assert error_line(err).startswith("error: model programmer, devices on 0.8.0: no upgrade fits: the delta needs "
                                      "28672 B of flash")
    assert sorted(p.name for p in out.iterdir()) == ["build-cache"]  # no package, job or report
    edit(manifest, "budget = { download = 0x2000 }", "budget = { download = 0x10000 }")
    code, stdout, err = run(capsys, "-q", "release", manifest, "-o", out, *cache, "--json")
    assert code == 0, err
    assert json.loads(stdout)["run"]["cache"]["hits"] == 9  # the budget decides routes, not bytes


def test_progress_lines_on_stderr_and_quiet(private_copy, capsys):
    manifest, out = private_copy
    code, stdout, err = run(capsys, "release", manifest, "-o", out)
    assert code == 0
    lines = err.splitlines()
    assert len(lines) == 10 and all(line.startswith(("[", "wrote ")) for line in lines)
    assert "[9/9] cached programmer factory-test->0.9.0 delta: " in err
    assert stdout.splitlines()[0].split() == ["model", "from", "route", "bytes", "job"]
    assert "programmer  factory-test  full" in stdout
    code, _, err = run(capsys, "-q", "release", manifest, "-o", out)
    assert code == 0 and err == ""


def test_two_workers_give_the_same_bytes(built, tmp_path, capsys):
    manifest, out, _ = built
    other = tmp_path / "two"
    code, _, err = run(capsys, "-q", "release", manifest, "-o", other, "--jobs", "2")
    assert code == 0, err
    assert tree_digests(other) == tree_digests(out)


@pytest.mark.slow  # a Ray instance takes 10-15 s to start; CI runs it (.ci/run installs otapack[ray])
def test_ray_gives_the_same_bytes(built, tmp_path):
    import ray  # the test command installs otapack[ray]: without it this fails, it never skips

    from otapack.features.release.executors import _loopback_only

    manifest, out, _ = built
    other = tmp_path / "ray"
    _loopback_only(ray)  # the test's Ray instance talks over 127.0.0.1 only
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    assert ray._private.worker.global_worker.node.address.startswith("127.0.0.1:")
    try:
        code, stdout, err = release("-q", "release", manifest, "-o", other, "--executor", "ray", "--json")
    finally:
        ray.shutdown()
    assert code == 0, err
    assert json.loads(stdout)["run"]["executor"] == "ray"
    assert tree_digests(other) == tree_digests(out)


def test_the_shipped_example_has_no_private_key():
    keys = ROOT / "examples" / "release" / "keys"
    tracked = subprocess.run(["git", "ls-files", str(keys)], cwd=ROOT, capture_output=True, text=True).stdout
    assert ".pem" not in tracked
