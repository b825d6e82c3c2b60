"""Every command against hostile inputs and outputs (issue 13 items 1, 3, 4).

Each input slot of each command gets a device node, /dev/zero, a FIFO with
no writer, a socket, a directory, a missing file, a symbolic-link loop, a
dangling link and an unreadable file. Each output gets one of its inputs,
a device node, a FIFO, a link to a device, a name over 255 bytes, a path
under a regular file, and a directory this run cannot write. Each run must
give the documented exit code, one ``error:`` line that names the hostile
path, an empty stdout, no stray file, and nothing changed outside the named
output.

FIFO cases run in one child process, and the parent's timeout is only the
hang detector. Unreadable and unwritable cases run in a child that obeys
permission bits even as root (``cli_batch.drop_file_privileges``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import FIXTURES, error_line, run

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "minimal-system"
BATCH = Path(__file__).parent / "cli_batch.py"
#: Generous: only a hang detector for the FIFO batch, never a performance threshold.
HANG_TIMEOUT = 300


# -- the world: valid inputs every command line is built from ------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    from otapack.cli import main
    from otapack.core.formats.package import TRAILER_SIZE  # noqa: F401  (package format loaded once)
    from otapack.features import signing

    d = tmp_path_factory.mktemp("world")
    paths = {
        "old": d / "old.bin", "new": d / "new.bin", "ex_old": d / "ex-old.bin", "ex_new": d / "ex-new.bin",
        "mini": d / "mini.bin", "layout": d / "layout.toml", "pkg": d / "full.pack", "delta": d / "delta.pack",
        "s1": d / "stage1.pack", "s2": d / "stage2.pack", "key": d / "key.pem", "pub": d / "pub.pem",
        "sig": d / "sig.bin", "job": d / "job.json", "fsimg": d / "fs.bin", "appdir": d / "app",
    }
    shutil.copy(FIXTURES / "corpus" / "programmer-0.8.0.bin", paths["old"])
    shutil.copy(FIXTURES / "corpus" / "programmer-0.9.0.bin", paths["new"])
    for name, source in (("ex_old", "old.bin"), ("ex_new", "new.bin"), ("mini", "minimal.bin"),
                         ("layout", "layout.toml")):
        shutil.copy(EXAMPLE / source, paths[name])
    shutil.copytree(FIXTURES / "app", paths["appdir"])
    # --fs and fs build need the littlefs version the module mounts (the example layout declares none)
    layout = paths["layout"].read_text()
    paths["layout"].write_text(layout.replace('type = "filesystem"\n', 'type = "filesystem"\nfs_lfs_version = "2.0"\n', 1))
    q = ["-q"]
    for argv in (
        ["full", paths["new"], "--target-version", "2.0", "--no-verify", "-o", paths["pkg"]],
        ["diff", paths["old"], paths["new"], "--no-verify", "-o", paths["delta"]],
        ["minimal", paths["ex_old"], paths["ex_new"], "--minimal-system", paths["mini"], "--layout", paths["layout"],
         "--no-verify", "-o", paths["s1"], "-o", paths["s2"]],
        ["keygen", "-o", paths["key"]],
        ["pubkey", paths["key"], "-o", paths["pub"]],
        ["job", paths["pkg"], "--url-base", "https://fw.example.com/ota", "-o", paths["job"]],
        ["fs", "build", paths["appdir"], "--block-count", "32", "--lfs-version", "2.0", "-o", paths["fsimg"]],
    ):
        assert main(q + [str(a) for a in argv]) == 0, argv
    key = signing.load_private_key(paths["key"])
    digest = signing.package_digest(paths["pkg"].read_bytes())
    paths["sig"].write_bytes(key.algorithm.sign(key.key, digest))
    return paths


@dataclass(frozen=True)
class Command:
    name: str
    argv: str  # fields: world names, {out}/{out2} (files), {outdir} (a directory)
    inputs: tuple[str, ...] = ()  # world names given as files
    dirs: tuple[str, ...] = ()  # world names given as directories
    outputs: tuple[str, ...] = ()
    baseline: int = 0  # exit code with valid inputs


COMMANDS = [
    Command("full", "full {new} --no-verify -o {out}", ("new",), outputs=("out",)),
    Command("full-layout", "full {ex_new} --layout {layout} --sign-key {key} --no-verify -o {out}",
            ("ex_new", "layout", "key"), outputs=("out",)),
    Command("diff", "diff {old} {new} --no-verify -o {out}", ("old", "new"), outputs=("out",)),
    Command("diff-fs", "diff {ex_old} {ex_new} --layout {layout} --fs {appdir} --no-verify -o {out}",
            ("ex_old", "ex_new", "layout"), ("appdir",), outputs=("out",)),
    Command("minimal", "minimal {ex_old} {ex_new} --minimal-system {mini} --layout {layout} --no-verify "
                       "-o {out} -o {out2}", ("ex_old", "ex_new", "mini", "layout"), outputs=("out", "out2")),
    Command("plan", "plan {ex_old} {ex_new} --minimal-system {mini} --layout {layout}",
            ("ex_old", "ex_new", "mini", "layout")),
    Command("info", "info {pkg}", ("pkg",)),
    Command("verify", "verify {delta} --old {old} --new {new} --pubkey {pub}", ("delta", "old", "new", "pub"),
            baseline=8),
    Command("verify-chain", "verify {s1} {s2} --old {ex_old} --new {ex_new} --layout {layout}",
            ("s1", "s2", "ex_old", "ex_new", "layout")),
    Command("apply", "apply {delta} --old {old} -o {out}", ("delta", "old"), outputs=("out",)),
    Command("partitions", "partitions {ex_new} --layout {layout}", ("ex_new", "layout")),
    Command("compare", "compare {old} {new}", ("old", "new")),
    Command("keygen", "keygen -o {out}", outputs=("out",)),
    Command("pubkey", "pubkey {key} -o {out}", ("key",), outputs=("out",)),
    Command("sign", "sign {pkg} --key {key} -o {out}", ("pkg", "key"), outputs=("out",)),
    Command("sign-external", "sign {pkg} --signature {sig} --pubkey {pub} -o {out}", ("pkg", "sig", "pub"),
            outputs=("out",)),
    Command("digest", "digest {pkg} -o {out}", ("pkg",), outputs=("out",)),
    Command("job", "job {pkg} --url-base https://fw.example.com/ota -o {out}", ("pkg",), outputs=("out",)),
    Command("job-check", "job --check {job}", ("job",)),
    Command("app", "app {appdir} --version 2 --url-base https://fw.example.com/app --layout {layout} -o {outdir}",
            ("layout",), ("appdir",), outputs=("outdir",)),
    Command("fs-build", "fs build {appdir} --layout {layout} -o {out}", ("layout",), ("appdir",), outputs=("out",)),
    Command("fs-ls", "fs ls {fsimg}", ("fsimg",)),
    Command("fs-extract", "fs extract {fsimg} -o {outdir}", ("fsimg",), outputs=("outdir",)),
]
BY_NAME = {c.name: c for c in COMMANDS}
WRITERS = [c for c in COMMANDS if c.outputs]


def argv_for(command: Command, world: dict[str, Path], case: Path, **override: str | Path) -> list[str]:
    fields = {k: str(v) for k, v in world.items()}
    fields.update(out=str(case / "out.bin"), out2=str(case / "out2.bin"), outdir=str(case / "outdir"))
    fields.update({k: str(v) for k, v in override.items()})
    return [part.format(**fields) for part in command.argv.split()]


# -- hostile things ---------------------------------------------------------------------------


def device_node(path: Path, major: int, minor: int) -> Path:
    """A private character device (as root); elsewhere the system's own node of that number."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
        return path
    except PermissionError:
        return Path({(1, 3): "/dev/null", (1, 5): "/dev/zero", (1, 7): "/dev/full"}[(major, minor)])


def unix_socket(path: Path) -> Path:
    here = os.getcwd()
    os.chdir(path.parent)  # AF_UNIX names are limited to 108 bytes; bind a short relative one
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(path.name)
        sock.close()
    finally:
        os.chdir(here)
    return path


def hostile_file(kind: str, where: Path) -> Path:
    """A path that must be refused where a regular file is expected."""
    path = where / f"hostile-{kind}"
    if kind == "device":
        return device_node(path, 1, 5)
    if kind == "dev-zero":
        return Path("/dev/zero")
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        unix_socket(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "loop":
        path.symlink_to(path.name + "-2")
        (where / (path.name + "-2")).symlink_to(path.name)
    elif kind == "dangling":
        path.symlink_to(where / "nowhere")
    elif kind == "unreadable":
        path.write_bytes(b"secret")
        path.chmod(0)
    elif kind != "missing":
        raise ValueError(kind)
    return path


def hostile_dir(kind: str, where: Path, model: Path) -> tuple[Path, Path]:
    """(path to give, path the error must name) where a directory is expected."""
    if kind.startswith("dir-with-"):
        path = where / "hostile-tree"
        shutil.copytree(model, path)
        inner = hostile_file(kind[len("dir-with-"):], path / "lib")
        return path, inner
    if kind == "regular":
        path = where / "hostile-regular"
        path.write_bytes(b"not a directory")
        return path, path
    path = hostile_file(kind, where)
    return path, path


#: FIFOs and unreadable files run in child processes (the batches below); sockets and
#: dangling links, which take the same path through fileio, are in test_fileio.py.
FILE_KINDS = ["device", "dev-zero", "directory", "missing", "loop"]
DIR_KINDS = ["regular", "device", "missing", "loop", "dir-with-device", "dir-with-socket"]


# -- observing: nothing outside the named output changes --------------------------------------


def snapshot(*roots: Path) -> dict[str, tuple]:
    """Every entry under the roots: type, mode, size, content hash, link target, device number."""
    seen = {}
    for root in roots:
        for current, dirs, files in os.walk(root):
            for name in dirs + files:
                path = Path(current, name)
                st = os.lstat(path)
                digest = link = None
                if stat.S_ISREG(st.st_mode) and st.st_mode & 0o400:
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()
                if stat.S_ISLNK(st.st_mode):
                    link = os.readlink(path)
                seen[str(path)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_size if digest else 0,
                                   digest, link, st.st_rdev, st.st_ino)
    return seen


def assert_refused(code: int, out: str, err: str, expected: int, names: Path | str) -> str:
    assert code == expected, f"exit {code}, expected {expected}: {err}"
    assert out == ""
    line = error_line(err)
    assert str(names) in line, line
    return line


# -- the in-process matrix --------------------------------------------------------------------


def test_every_command_runs_on_the_valid_world(world, tmp_path, capsys):
    """The templates are valid, so a refusal below is the hostile path's doing."""
    for command in COMMANDS:
        if command.name == "minimal":
            continue  # the world fixture built stage1/stage2 with this very command line
        case = tmp_path / command.name
        case.mkdir()
        code, _, err = run(capsys, "-q", *argv_for(command, world, case))
        assert code == command.baseline, f"{command.name}: {err}"


INPUT_CASES = [(c.name, slot, kind) for c in COMMANDS for slot in c.inputs for kind in FILE_KINDS]
DIR_CASES = [(c.name, slot, kind) for c in COMMANDS for slot in c.dirs for kind in DIR_KINDS
             if not (c.name == "app" and kind == "regular")]  # app publishes single files too


@pytest.mark.parametrize("name, slot, kind", INPUT_CASES)
def test_hostile_file_input_is_input_error(world, tmp_path, capsys, name, slot, kind):
    command = BY_NAME[name]
    hostile = hostile_file(kind, tmp_path)
    before = snapshot(world["old"].parent, tmp_path)
    code, out, err = run(capsys, *argv_for(command, world, tmp_path, **{slot: hostile}))
    line = assert_refused(code, out, err, 3, hostile)
    assert "Traceback" not in err and "internal error" not in line
    assert snapshot(world["old"].parent, tmp_path) == before


@pytest.mark.parametrize("name, slot, kind", DIR_CASES)
def test_hostile_directory_input_is_input_error(world, tmp_path, capsys, name, slot, kind):
    command = BY_NAME[name]
    given, named = hostile_dir(kind, tmp_path, world[slot])
    before = snapshot(world["old"].parent, tmp_path)
    code, out, err = run(capsys, *argv_for(command, world, tmp_path, **{slot: given}))
    assert_refused(code, out, err, 3, named)
    assert snapshot(world["old"].parent, tmp_path) == before


def _output_cases():
    cases = []
    for c in WRITERS:
        for out in c.outputs:
            directory = out == "outdir"
            kinds = ["device", "link-to-device", "dangling", "too-long", "under-file"]
            kinds += ["regular"] if directory else ["directory"]
            cases += [(c.name, out, kind) for kind in kinds]
            # sign without -o (or with -o PACKAGE) signs in place on purpose
            cases += [(c.name, out, f"input:{slot}") for slot in c.inputs + c.dirs
                      if not (c.name.startswith("sign") and slot == "pkg")]
    return cases


def hostile_output(kind: str, where: Path, world: dict[str, Path]) -> tuple[Path | str, Path | str]:
    """(path to give as the output, path the error must name)."""
    if kind.startswith("input:"):
        path = world[kind[len("input:"):]]
        return path, path
    path = where / "hostile-out"
    if kind == "device":
        path = device_node(path, 1, 7)  # a private /dev/full
    elif kind == "socket":
        unix_socket(path)
    elif kind == "link-to-device":
        path.symlink_to(device_node(where / "private-full", 1, 7))
    elif kind == "dangling":
        path.symlink_to(where / "nowhere")
    elif kind == "existing-link-loop":
        hostile_file("loop", where)
        path = where / "hostile-loop"
    elif kind == "too-long":
        path = where / ("n" * 300)
        return path, "n" * 32 + "..."
    elif kind == "under-file":
        (where / "plain").write_bytes(b"a regular file")
        path = where / "plain" / "out.bin"
    elif kind == "no-parent":
        path = where / "missing-dir" / "out.bin"
    elif kind == "directory":
        path.mkdir()
    elif kind == "regular":
        path.write_bytes(b"a regular file")
    return path, path


@pytest.mark.parametrize("name, out, kind", _output_cases())
def test_hostile_output_is_refused_and_untouched(world, tmp_path, capsys, name, out, kind):
    command = BY_NAME[name]
    target, named = hostile_output(kind, tmp_path, world)
    before = snapshot(world["old"].parent, tmp_path)
    code, stdout, err = run(capsys, *argv_for(command, world, tmp_path, **{out: target}))
    assert_refused(code, stdout, err, 6, named)
    assert snapshot(world["old"].parent, tmp_path) == before  # the device stays a device, the input intact


@pytest.mark.parametrize("name", [c.name for c in WRITERS if c.inputs])
def test_output_hard_link_of_an_input_is_refused(world, tmp_path, capsys, name):
    command = BY_NAME[name]
    twin = tmp_path / "twin"
    os.link(world[command.inputs[-1]], twin)
    before = snapshot(world["old"].parent, tmp_path)
    code, out, err = run(capsys, *argv_for(command, world, tmp_path, **{command.outputs[0]: twin}))
    assert_refused(code, out, err, 6, twin)
    assert snapshot(world["old"].parent, tmp_path) == before


def test_output_given_relative_to_its_input_is_refused(world, capsys, monkeypatch):
    monkeypatch.chdir(world["old"].parent)
    before = snapshot(world["old"].parent)
    for argv in (["diff", "old.bin", "new.bin", "-o", "./old.bin"], ["full", "./new.bin", "-o", "new.bin"],
                 ["apply", "full.pack", "-o", "full.pack"], ["diff", "old.bin", "new.bin", "-o", "../world0/old.bin"]):
        code, out, err = run(capsys, *argv)
        assert_refused(code, out, err, 6, argv[-1])
    assert snapshot(world["old"].parent) == before


def test_output_inside_or_around_an_input_directory_is_refused(world, tmp_path, capsys):
    before = snapshot(world["old"].parent)
    app = world["appdir"]
    cases = [
        (BY_NAME["fs-build"], {"out": app / "fs.bin"}, "inside the input directory"),
        (BY_NAME["diff-fs"], {"out": app / "lib" / "x.pack"}, "inside the input directory"),
        (BY_NAME["app"], {"outdir": app / "upload"}, "inside the input directory"),
    ]
    for command, override, why in cases:
        code, out, err = run(capsys, *argv_for(command, world, tmp_path, **override))
        assert why in assert_refused(code, out, err, 6, list(override.values())[0])
    # an upload folder that would replace the directory holding an input, even with --force
    code, out, err = run(capsys, *argv_for(BY_NAME["app"], world, tmp_path, outdir=app.parent), "--force")
    assert "would replace the input" in assert_refused(code, out, err, 6, app.parent)
    assert snapshot(world["old"].parent) == before


def test_minimal_refuses_two_names_of_one_output(world, tmp_path, capsys):
    (tmp_path / "s.pack").write_bytes(b"old stage")
    (tmp_path / "alias.pack").symlink_to("s.pack")
    code, out, err = run(capsys, *argv_for(BY_NAME["minimal"], world, tmp_path, out=tmp_path / "s.pack",
                                           out2=tmp_path / "alias.pack"))
    assert_refused(code, out, err, 6, "alias.pack")
    assert (tmp_path / "s.pack").read_bytes() == b"old stage"


@pytest.mark.parametrize("name", ["keygen", "minimal", "app", "fs-extract"])
def test_stdout_is_refused_where_a_command_writes_files_only(world, tmp_path, capsys, name):
    command = BY_NAME[name]
    code, out, err = run(capsys, *argv_for(command, world, tmp_path, **{command.outputs[0]: "-"}))
    assert_refused(code, out, err, 2, "'-' (standard output) is not accepted here")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", [c.name for c in COMMANDS if c.inputs and c.name not in
                                  ("info", "verify", "verify-chain", "partitions", "fs-ls")])
def test_stdin_is_refused_where_one_stream_makes_no_sense(world, tmp_path, capsys, name):
    command = BY_NAME[name]
    code, out, err = run(capsys, *argv_for(command, world, tmp_path, **{command.inputs[-1]: "-"}))
    assert_refused(code, out, err, 2, "'-' (standard input) is not accepted here")


def test_keygen_never_replaces_a_file_or_writes_through_a_link(tmp_path, capsys):
    target = tmp_path / "existing.pem"
    target.write_bytes(b"precious")
    link = tmp_path / "link.pem"
    link.symlink_to(target)
    for path in (target, link):
        code, out, err = run(capsys, "keygen", "-o", path)
        assert_refused(code, out, err, 6, path)
    assert target.read_bytes() == b"precious" and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.pem", "link.pem"]


def test_symlink_output_writes_through_to_its_regular_target(world, tmp_path, capsys):
    target = tmp_path / "real.pack"
    target.write_bytes(b"previous package")
    target.chmod(0o640)
    link = tmp_path / "latest.pack"
    link.symlink_to("real.pack")
    code, _, err = run(capsys, "-q", "full", world["new"], "--target-version", "2.0", "--no-verify", "-o", link)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == "real.pack"
    assert target.read_bytes() == world["pkg"].read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # a replaced file keeps its permission bits
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.pack", "real.pack"]


def test_output_to_stdout_with_dash(world, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "otapack", "-q", "full", str(world["new"]), "--target-version", "2.0",
                           "--no-verify", "-o", "-"], capture_output=True, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == world["pkg"].read_bytes()
    assert list(tmp_path.iterdir()) == []


def test_binary_output_never_goes_to_a_terminal(world, tmp_path):
    controller, terminal = os.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "otapack", "-q", "full", str(world["new"]), "--no-verify", "-o", "-"],
                              stdout=terminal, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=tmp_path)
    finally:
        os.close(terminal)
        os.close(controller)
    assert proc.returncode == 2
    assert error_line(proc.stderr.decode()) == ("error: refusing to write a package (binary) to a terminal; "
                                                "use -o FILE or a pipe")


@pytest.mark.parametrize("argv, source, expected", [
    (["info", "-"], "pkg", "package        format v1, full"),
    (["verify", "-", "--new", "{new}"], "pkg", "result: PASS"),
    (["partitions", "-", "--json"], "new", '"name": "image"'),
    (["fs", "ls", "-"], "fsimg", "main.py"),
    # firmware on standard input, split by a layout (the reader, not only the command, takes '-')
    (["partitions", "-", "--layout", "{layout}", "--json"], "ex_new", '"name": "customer_fs"'),
    (["fs", "ls", "-", "--layout", "{layout}"], "ex_new", "/main.py"),
])
def test_stdin_input_where_one_stream_makes_sense(world, tmp_path, argv, source, expected):
    argv = [a.format(new=world["new"], layout=world["layout"]) for a in argv]
    with open(world[source], "rb") as stdin:
        proc = subprocess.run([sys.executable, "-m", "otapack", *argv], stdin=stdin, capture_output=True, text=True,
                              cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert expected in proc.stdout
    assert list(tmp_path.iterdir()) == []


def test_stdin_that_is_a_terminal_is_refused(tmp_path):
    controller, terminal = os.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "otapack", "info", "-"], stdin=terminal, capture_output=True,
                              text=True, cwd=tmp_path)
    finally:
        os.close(terminal)
        os.close(controller)
    assert proc.returncode == 3
    assert error_line(proc.stderr) == ("error: refusing to read a package from a terminal: pipe it in or give a file")


# -- size bounds -------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, size, message", [
    (["info", "{big}"], 5 << 30, "package {big} is 5,368,709,120 bytes; otapack reads at most 4,294,967,295 bytes"),
    (["full", "{big}", "-o", "{out}"], 3 << 30, "new image {big} is 3,221,225,472 bytes; otapack reads at most 2 GiB"),
    (["partitions", "{new}", "--layout", "{big}"], 5 << 20, "layout {big} is 5,242,880 bytes; otapack reads at most 4 MiB"),
    (["pubkey", "{big}"], 2 << 20, "key {big} is 2,097,152 bytes; otapack reads at most 1 MiB"),
    (["job", "--check", "{big}"], 5 << 20, "job document {big} is 5,242,880 bytes; otapack reads at most 4 MiB"),
])
def test_oversized_inputs_are_refused_without_reading_them(world, tmp_path, capsys, argv, size, message):
    big = tmp_path / "big"
    with open(big, "wb") as handle:
        handle.truncate(size)  # sparse: nothing is allocated, and nothing may be read
    fields = {"big": big, "out": tmp_path / "out.pack", "new": world["new"]}
    code, out, err = run(capsys, *[a.format(**fields) for a in argv])
    assert code == 3 and out == ""
    assert error_line(err) == "error: " + message.format(**fields)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big"]


# -- the child-process batches: FIFOs (hang detector) and permission bits ------------------------


def run_batch(cases: list[dict], tmp: Path, *, unprivileged: bool = False) -> list[dict]:
    cases_file, progress, results = tmp / "cases.json", tmp / "progress.txt", tmp / "results.json"
    cases_file.write_text(json.dumps(cases))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    from cli_batch import drop_file_privileges

    try:
        proc = subprocess.run([sys.executable, str(BATCH), str(cases_file), str(progress), str(results)],
                              capture_output=True, text=True, timeout=HANG_TIMEOUT, stdin=subprocess.DEVNULL, env=env,
                              preexec_fn=drop_file_privileges if unprivileged else None)
    except subprocess.TimeoutExpired:
        last = progress.read_text().splitlines()[-1] if progress.exists() else "(none)"
        pytest.fail(f"otapack hung (no result in {HANG_TIMEOUT} s) on: {last}")
    assert proc.returncode == 0, proc.stderr
    return json.loads(results.read_text())


def test_fifo_without_writer_never_hangs(world, tmp_path):
    """FIFOs as every input and every output: refused, not opened, not replaced."""
    cases, expect = [], []
    for i, command in enumerate(COMMANDS):
        for slot in command.inputs:
            where = tmp_path / f"{i}-{slot}"
            where.mkdir()
            fifo = hostile_file("fifo", where)
            cases.append({"argv": argv_for(command, world, where, **{slot: fifo}), "cwd": str(where)})
            expect.append((3, fifo))
        for slot in command.dirs:
            where = tmp_path / f"{i}-{slot}"
            where.mkdir()
            given, named = hostile_dir("dir-with-fifo", where, world[slot])
            cases.append({"argv": argv_for(command, world, where, **{slot: given}), "cwd": str(where)})
            expect.append((3, named))
            fifo = hostile_file("fifo", where)
            cases.append({"argv": argv_for(command, world, where, **{slot: fifo}), "cwd": str(where)})
            expect.append((3, fifo))
        for out in command.outputs:
            where = tmp_path / f"{i}-{out}"
            where.mkdir()
            fifo = hostile_file("fifo", where)
            cases.append({"argv": argv_for(command, world, where, **{out: fifo}), "cwd": str(where)})
            expect.append((6, fifo))
    (tmp_path / "batch").mkdir()
    before = snapshot(world["old"].parent, tmp_path)
    for case, result, (code, named) in zip(cases, run_batch(cases, tmp_path / "batch"), expect):
        assert_refused(result["code"], result["stdout"], result["stderr"], code, named), case
    after = snapshot(world["old"].parent, tmp_path)
    assert {k: v for k, v in after.items() if "/batch/" not in k} == before


def test_permission_bits_are_input_and_output_errors(world, tmp_path):
    """Unreadable inputs are exit 3 and unwritable output directories exit 6, for every command,
    checked before the work starts (a missing image behind an unwritable output is still exit 6)."""
    cases, expect = [], []
    for i, command in enumerate(COMMANDS):
        for slot in command.inputs:
            where = tmp_path / f"{i}-{slot}"
            where.mkdir()
            locked = hostile_file("unreadable", where)
            cases.append({"argv": argv_for(command, world, where, **{slot: locked}), "cwd": str(where)})
            expect.append((3, locked))
        for slot in command.dirs:
            where = tmp_path / f"{i}-{slot}"
            where.mkdir()
            given, named = hostile_dir("dir-with-unreadable", where, world[slot])
            cases.append({"argv": argv_for(command, world, where, **{slot: given}), "cwd": str(where)})
            expect.append((3, named))
        for out in command.outputs:
            where = tmp_path / f"{i}-{out}"
            locked = where / "locked"
            locked.mkdir(parents=True)
            name = "outdir" if out == "outdir" else "out.bin"
            override = {out: locked / name}
            cases.append({"argv": argv_for(command, world, where, **override), "cwd": str(where)})
            expect.append((6, locked / name))
            if command.inputs:  # the output is checked first: the missing input is never reached
                override[command.inputs[0]] = where / "missing-input"
                cases.append({"argv": argv_for(command, world, where, **override), "cwd": str(where)})
                expect.append((6, locked / name))
            locked.chmod(0o555)
    (tmp_path / "batch").mkdir()
    before = snapshot(world["old"].parent, tmp_path)
    results = run_batch(cases, tmp_path / "batch", unprivileged=True)
    for case, result, (code, named) in zip(cases, results, expect):
        assert_refused(result["code"], result["stdout"], result["stderr"], code, named), case
    after = snapshot(world["old"].parent, tmp_path)
    assert {k: v for k, v in after.items() if "/batch/" not in k} == {k: v for k, v in before.items()
                                                                      if "/batch/" not in k}


def test_privilege_drop_really_applies(tmp_path):
    """Guards the batch above: under it, a mode-000 file is unreadable even for root."""
    locked = tmp_path / "locked"
    locked.write_bytes(b"x")
    locked.chmod(0)
    from cli_batch import drop_file_privileges

    proc = subprocess.run([sys.executable, "-c", f"open({str(locked)!r}, 'rb')"], capture_output=True, text=True,
                          preexec_fn=drop_file_privileges)
    assert proc.returncode == 1 and "PermissionError" in proc.stderr


def test_every_path_parameter_leaves_the_checks_to_fileio():
    """click.Path's own checks made a directory or an unreadable input a usage error (exit 2):
    every command's path parameters are the CLI's recording types instead."""
    import importlib

    import click

    from otapack.cli import COMMAND_MODULES

    def walk(command):
        yield command
        for sub in getattr(command, "commands", {}).values():
            yield from walk(sub)

    for module in sorted(set(COMMAND_MODULES.values())):
        for top in importlib.import_module(module).COMMANDS:
            for command in walk(top):
                for param in command.params:
                    assert not isinstance(param.type, click.Path), f"{command.name} {param.name} uses click.Path"
