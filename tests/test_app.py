"""``otapack app``: the upload folder, app_fota.json, the manifest, and every rejection.

tests/fixtures/app/ holds a small hand-written QuecPython app (main.py, a.py
with getversion(), lib/net.py, config.json and a 0.1 s WAV beep); tests copy
it into tmp_path before adding clutter or bad files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from otapack.features.cloud.app import AppOptions, build_app_release, collect_app_files, fs_free_space, staged_bytes
from otapack.cli import main
from otapack.features.cloud.job import UrlBase, check_job_bytes
from otapack.errors import InputError, OutputError, UsageError

from conftest import FIXTURES
from test_cloud import device_receives
from conftest import error_line, run

APP = FIXTURES / "app"
S3 = "https://qpyota.s3.us-west-2.amazonaws.com/app/2.0"

LAYOUT = """
erase_block = 0x1000
[[partitions]]
name = "system"
offset = 0x0
size = 0x10000
type = "code"
[[partitions]]
name = "customer_fs"
offset = 0x10000
size = 0x{fs_size:x}
"""




@pytest.fixture
def app(tmp_path) -> Path:
    target = tmp_path / "app"
    shutil.copytree(APP, target)
    return target


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def reject(capsys, tmp_path, *args) -> str:
    """Run ``otapack app`` expecting exit 3; returns the message; checks nothing was written."""
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "app", *args, "--version", "2.0", "--url-base", S3, "-o", out)
    assert code == InputError.exit_code, err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no temp dir left
    return error_line(err)[len("error: "):]


# -- the release ------------------------------------------------------------------------------


def test_app_release_from_a_real_looking_app(tmp_path, capsys, app):
    write(app / "__pycache__" / "a.cpython-311.pyc", b"\x00junk")
    write(app / ".DS_Store", b"junk")
    out = tmp_path / "release"
    code, stdout, err = run(capsys, "app", app, "--device-prefix", "/usr", "--version", "2.0",
                            "--url-base", S3, "--aws-presigned", "-o", out)
    assert code == 0, err
    keys = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert keys == ["a.py", "app_fota.json", "beep.wav", "config.json", "lib/net.py", "main.py", "manifest.json"]
    for key in ("a.py", "beep.wav", "config.json", "lib/net.py", "main.py"):
        assert (out / key).read_bytes() == (APP / key).read_bytes()

    job = json.loads((out / "app_fota.json").read_bytes())
    assert device_receives(job) == {
        "operation": "app_fota",
        "version": "2.0",
        "ota_data": [
            {"url": f"${{aws:iot:s3-presigned-url:{S3}/{key}}}", "file_name": f"/usr/{key}"}
            for key in ("a.py", "beep.wav", "config.json", "lib/net.py", "main.py")
        ],
    }
    assert check_job_bytes((out / "app_fota.json").read_bytes()).ok
    assert list(job[0]["files"][0]) == ["fileName", "fileVersion", "fileSource", "fileSize", "fileSha256"]

    manifest = json.loads((out / "manifest.json").read_bytes())
    assert manifest["version"] == "2.0" and manifest["device_prefix"] == "/usr" and manifest["file_count"] == 5
    for entry in manifest["files"]:
        data = (APP / entry["key"]).read_bytes()
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["device_path"] == "/usr/" + entry["key"]
    assert manifest["total_size"] == sum(e["size"] for e in manifest["files"])


def test_app_release_is_deterministic_and_plain_urls(tmp_path, capsys, app):
    outs = [tmp_path / "r1", tmp_path / "r2"]
    for out in outs:
        code, _, err = run(capsys, "app", app, "--version", "2.0", "--url-base", "https://cdn.example.com/app/",
                           "--no-integrity", "-o", out)
        assert code == 0, err
    for name in ("app_fota.json", "manifest.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes()
    job = json.loads((outs[0] / "app_fota.json").read_bytes())
    assert job[0]["files"][0] == {"fileName": "/usr/a.py", "fileVersion": "2.0",
                                  "fileSource": {"url": "https://cdn.example.com/app/a.py"}}


def test_seed_app_document_shape(tmp_path):
    a = write(tmp_path / "src" / "a.py", "def getversion():\n    return '2.0'\n")
    b = write(tmp_path / "src" / "b.py", "print('b')\n")
    release = build_app_release([str(a), str(b)], AppOptions(version="2.0"),
                                UrlBase("https://qpyota.s3.us-west-2.amazonaws.com", True),
                                include_integrity=False)
    seed = [{"operation": "app_fota", "files": [
        {"fileName": "/usr/a.py", "fileVersion": "2.0",
         "fileSource": {"url": "${aws:iot:s3-presigned-url:https://qpyota.s3.us-west-2.amazonaws.com/a.py}"}},
        {"fileName": "/usr/b.py", "fileVersion": "2.0",
         "fileSource": {"url": "${aws:iot:s3-presigned-url:https://qpyota.s3.us-west-2.amazonaws.com/b.py}"}},
    ]}]
    assert release.job.to_bytes() == (json.dumps(seed, indent=2) + "\n").encode()


def test_source_mappings(tmp_path):
    src = tmp_path / "src"
    main_py = write(src / "build" / "main.py", "m")
    write(src / "lib" / "x.py", "x")
    write(src / "lib" / "y.py", "y")
    wav = write(src / "sounds" / "ok.wav", b"RIFF")
    files = collect_app_files(
        [f"{main_py}=/usr/main.py", f"{src / 'lib'}=lib/", f"{wav}=/usr/audio/", f"{src / 'lib' / 'x.py'}=/usr/ext/x2.py"],
        AppOptions(version="1"),
    )
    assert [(f.device_path, f.key) for f in files] == [
        ("/usr/audio/ok.wav", "audio/ok.wav"),
        ("/usr/ext/x2.py", "ext/x2.py"),
        ("/usr/lib/x.py", "lib/x.py"),
        ("/usr/lib/y.py", "lib/y.py"),
        ("/usr/main.py", "main.py"),
    ]


def test_other_prefix(tmp_path):
    f = write(tmp_path / "cfg.json", "{}")
    files = collect_app_files([str(f)], AppOptions(version="1", device_prefix="/bak"))
    assert files[0].device_path == "/bak/cfg.json" and files[0].key == "cfg.json"


# -- rejections, one message each ----------------------------------------------------------------


def test_reject_dotdot_target(tmp_path, capsys, app):
    msg = reject(capsys, tmp_path, f"{app / 'a.py'}=../etc/a.py")
    assert msg == f"{app / 'a.py'}: target '../etc/a.py' escapes the device prefix /usr ('..' is not allowed)"


def test_reject_dotdot_inside_absolute_target(tmp_path, capsys, app):
    msg = reject(capsys, tmp_path, f"{app / 'a.py'}=/usr/lib/../../a.py")
    assert msg == f"{app / 'a.py'}: target '/usr/lib/../../a.py' escapes the device prefix /usr ('..' is not allowed)"


def test_reject_absolute_target_elsewhere(tmp_path, capsys, app):
    msg = reject(capsys, tmp_path, f"{app / 'a.py'}=/bak/a.py")
    assert msg == f"{app / 'a.py'}: target '/bak/a.py' is outside the device prefix /usr"


def test_reject_lookalike_prefix(tmp_path, capsys, app):
    msg = reject(capsys, tmp_path, f"{app / 'a.py'}=/usr2/a.py")
    assert msg == f"{app / 'a.py'}: target '/usr2/a.py' is outside the device prefix /usr"


@pytest.mark.parametrize(
    "name, why",
    [
        ("my app.py", "name 'my app.py' has characters the device cannot take"),
        ("café.py", "name 'café.py' has characters the device cannot take"),
        ("a?.py", "name 'a?.py' has characters the device cannot take"),
    ],
)
def test_reject_unstorable_names(tmp_path, capsys, app, name, why):
    bad = write(app / "lib" / name, "x")
    msg = reject(capsys, tmp_path, app)
    assert msg == (f"{bad}: {why}: use only ASCII letters, digits, '.', '_' and '-' "
                   "(no spaces, non-ASCII or URL-special characters)")


def test_reject_name_too_long(tmp_path, capsys, app):
    name = "x" * 250 + ".py"
    try:
        bad = write(app / name, "x")
    except OSError:
        pytest.skip("host file system cannot hold a 253-byte name")
    msg = reject(capsys, tmp_path, app, "--max-file-size", "1M")
    # the name fits littlefs (255) but /usr/ + name passes the 255-byte path limit
    assert msg == f"{bad}: device path /usr/{name} is 258 bytes, over the 255-byte path limit"


def test_reject_name_over_littlefs_limit():
    from otapack.features.cloud.app import check_device_name

    assert check_device_name("a" * 256) == f"name {'a' * 256!r} is longer than 255 bytes (littlefs name limit)"


def test_reject_duplicate_targets(tmp_path, capsys, app):
    other = write(tmp_path / "other" / "a.py", "other a")
    msg = reject(capsys, tmp_path, app, other)
    assert msg == f"{other}: duplicate target /usr/a.py (also from {app / 'a.py'})"


def test_reject_file_and_directory_at_one_path(tmp_path, capsys, app):
    lib_file = write(tmp_path / "x" / "lib", "a file named lib")
    msg = reject(capsys, tmp_path, app, lib_file)
    assert msg == f"{app / 'lib' / 'net.py'}: target /usr/lib/net.py needs /usr/lib to be a directory, but {lib_file} is a file there"


def test_reject_empty_directory(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    msg = reject(capsys, tmp_path, empty)
    assert msg == f"{empty}: directory holds no app files"


def test_reject_everything_excluded(tmp_path, capsys):
    d = tmp_path / "junk"
    write(d / "__pycache__" / "a.pyc", b"x")
    write(d / "notes.txt", "x")
    msg = reject(capsys, tmp_path, d, "--exclude", "*.txt")
    assert msg == f"{d}: directory holds no app files (all excluded)"


def test_reject_empty_file_set(tmp_path, capsys):
    code, _, err = run(capsys, "app", "--version", "2.0", "--url-base", S3, "-o", tmp_path / "out")
    assert code == UsageError.exit_code
    assert error_line(err) == "error: no app files given: otapack app FILE_OR_DIR... (empty file set)"


def test_reject_missing_source(tmp_path, capsys):
    msg = reject(capsys, tmp_path, tmp_path / "nope")
    assert msg == f"{tmp_path / 'nope'}: no such file or directory"


def test_reject_file_over_size_limit(tmp_path, capsys, app):
    big = write(app / "big.bin", b"\x00" * 5000)
    msg = reject(capsys, tmp_path, app, "--max-file-size", "4K")
    assert msg == f"{big}: 5000 bytes, over the per-file limit of 4096 bytes (option --max-file-size)"


def test_default_size_limit_and_off(tmp_path):
    big = write(tmp_path / "big.bin", b"\x00" * ((1 << 20) + 1))
    with pytest.raises(InputError, match=r"over the per-file limit of 1048576 bytes"):
        collect_app_files([str(big)], AppOptions(version="1"))
    assert collect_app_files([str(big)], AppOptions(version="1", max_file_size=None))[0].size == (1 << 20) + 1


def test_reject_total_over_free_space(tmp_path, capsys, app):
    layout = write(tmp_path / "layout.toml", LAYOUT.format(fs_size=0x8000))  # 8 blocks
    write(app / "data" / "table.bin", b"\x01" * 9000)
    write(app / "data" / "more.bin", b"\x02" * 9000)
    msg = reject(capsys, tmp_path, app, "--layout", layout)
    files = collect_app_files([str(app)], AppOptions(version="1"))
    total = sum(f.size for f in files)
    need = staged_bytes(files, 4096)
    assert msg == (f"app files total {total} bytes and need at least {need} bytes staged under /usr/.updater "
                   f"(littlefs blocks of 4096), but the file system has only 24576 bytes free")


def test_free_space_counts_used_bytes(tmp_path, capsys, app):
    layout = write(tmp_path / "layout.toml", LAYOUT.format(fs_size=0x40000))  # 64 blocks
    assert fs_free_space(str(layout)) == ((64 - 2) * 4096, 4096)
    code, _, err = run(capsys, "app", app, "--version", "2", "--url-base", S3, "--layout", layout,
                       "-o", tmp_path / "fits")
    assert code == 0, err
    msg = reject(capsys, tmp_path, app, "--layout", layout, "--fs-used", "240K")
    assert msg.endswith(f"but the file system has only {(62 - 60) * 4096} bytes free")


def test_reject_staging_directory(tmp_path, capsys, app):
    msg = reject(capsys, tmp_path, f"{app / 'a.py'}=/usr/.updater/usr/a.py")
    assert msg == f"{app / 'a.py'}: target /usr/.updater/usr/a.py is inside /usr/.updater, where app_fota stages its downloads"


def test_reject_collision_with_job_document(tmp_path, capsys, app):
    clash = write(tmp_path / "x" / "app_fota.json", "[]")
    msg = reject(capsys, tmp_path, app, clash)
    assert msg == f"{clash}: key 'app_fota.json' collides with the app_fota.json this command writes to the upload folder"


def test_reject_prefix_itself(tmp_path, capsys, app):
    msg = reject(capsys, tmp_path, f"{app / 'a.py'}=/usr")
    assert msg == f"{app / 'a.py'}: target /usr is the device prefix itself, not a file"


def test_every_problem_is_reported(tmp_path, capsys, app):
    write(app / "bad name.py", "x")
    big = write(app / "big.bin", b"\x00" * 5000)
    msg = reject(capsys, tmp_path, app, f"{app / 'a.py'}=/etc/a.py", "--max-file-size", "4K")
    parts = msg.split("; ")
    assert len(parts) == 3
    assert parts[0] == f"{app / 'a.py'}: target '/etc/a.py' is outside the device prefix /usr"
    assert parts[1].startswith(f"{app / 'bad name.py'}: name 'bad name.py' has characters")
    assert parts[2] == f"{big}: 5000 bytes, over the per-file limit of 4096 bytes (option --max-file-size)"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"version": ""}, "the file version is empty: app_fota needs a file version the device compares"),
        ({"version": "1", "device_prefix": "usr"},
         "the device prefix must be an absolute device path like /usr, got 'usr'"),
        ({"version": "1", "device_prefix": "/usr/../x"},
         "the device prefix '/usr/../x' is not a normalised path (no '.', '..' or '//')"),
        ({"version": "1", "max_file_size": 0}, "the per-file size limit must be positive, got 0"),
    ],
)
def test_options_validated(kwargs, message):
    with pytest.raises(UsageError) as info:
        AppOptions(**kwargs)
    assert str(info.value) == message
    # the library names the setting, never a command-line flag; the CLI adds the flag
    assert "--" not in message and info.value.options == (next(k for k in kwargs if k != "version") if len(kwargs) > 1
                                                          else "version",)


def test_option_errors_name_the_flag_on_the_command_line(tmp_path, capsys, app):
    code, _, err = run(capsys, "app", app, "--version", "2", "--url-base", S3, "--device-prefix", "usr",
                       "-o", tmp_path / "o")
    assert code == UsageError.exit_code
    assert error_line(err) == ("error: the device prefix must be an absolute device path like /usr, got 'usr' "
                               "(option --device-prefix)")


def test_reject_job_document_over_aws_limit(tmp_path, capsys):
    d = tmp_path / "many"
    for i in range(100):
        write(d / f"module_{i:03d}.py", f"X = {i}\n")
    msg = reject(capsys, tmp_path, d, "--aws-presigned")
    assert re.fullmatch(r"app_fota\.json for 100 files would be \d+ bytes; AWS IoT accepts job documents up to "
                        r"32768 bytes: split the release into several jobs, or leave out the integrity fields "
                        r"\(option --no-integrity\)", msg), msg
    # without the integrity fields the same release fits
    code, _, err = run(capsys, "app", d, "--version", "2", "--url-base", S3, "--aws-presigned", "--no-integrity",
                       "-o", tmp_path / "fits")
    assert code == 0, err
    assert check_job_bytes((tmp_path / "fits" / "app_fota.json").read_bytes()).ok


# -- the output folder ------------------------------------------------------------------------------


def test_existing_output_refused_then_forced(tmp_path, capsys, app):
    out = tmp_path / "out"
    write(out / "old.txt", "previous release")
    code, _, err = run(capsys, "app", app, "--version", "2", "--url-base", S3, "-o", out)
    assert code == OutputError.exit_code
    assert error_line(err) == f"error: {out} exists and is not empty; refusing to overwrite it (option --force)"
    assert (out / "old.txt").exists()
    code, _, err = run(capsys, "app", app, "--version", "2", "--url-base", S3, "-o", out, "--force")
    assert code == 0, err
    assert not (out / "old.txt").exists() and (out / "app_fota.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app", "out"]


def test_empty_existing_output_is_used(tmp_path, capsys, app):
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = run(capsys, "app", app, "--version", "2", "--url-base", S3, "-o", out)
    assert code == 0, err
    assert (out / "manifest.json").exists()
    assert oct(os.stat(out).st_mode & 0o777) != "0o700"


def test_app_needs_url_base(tmp_path, capsys, app):
    code, _, err = run(capsys, "app", app, "--version", "2", "-o", tmp_path / "o")
    assert code == UsageError.exit_code
    assert error_line(err) == "error: --url-base is required (where the uploaded files will be served)"


def test_app_presigned_needs_s3(tmp_path, capsys, app):
    code, _, err = run(capsys, "app", app, "--version", "2", "--url-base", "https://cdn.example.com",
                       "--aws-presigned", "-o", tmp_path / "o")
    assert code == UsageError.exit_code
    assert error_line(err).startswith(
        "error: presigned S3 URLs need a URL base of the form https://BUCKET.s3.REGION.amazonaws.com")
    assert error_line(err).endswith("(options --aws-presigned, --url-base)")
