"""FOTA job documents: the seed's shape, the device's parsing, --check's messages."""

from __future__ import annotations

import json
import re

import pytest

from otapack.core.build import PackageOptions, build_delta, build_full
from otapack.cli import main
from otapack.features.cloud.job import (
    AWS_JOB_DOCUMENT_LIMIT,
    JobDocument,
    JobFile,
    PackageFile,
    UrlBase,
    check_job_bytes,
    fota_document,
    require_valid,
    validate_job_document,
)
from otapack.errors import InputError, PackageFormatError, UsageError
from otapack.core.model import FirmwareImage
from conftest import run

S3 = "https://qpyota.s3.us-west-2.amazonaws.com"

#: The FOTA job document of the seed (firmware-ota-upgrade), verbatim.
SEED_FOTA = """[
{
"operation":"FOTA",
"files":[
{
"fileName":"EG915UEUAB_V0002-V0003.pack",
"fileVersion": "EG915UEUABR03A21M08_OCPU_QPY",
"fileSource":{
"url":"${aws:iot:s3-presigned-url:https://qpyota.s3.us-west-2.amazonaws.com/EG915UEUAB_V0002-V0003.pack}"
}
}
]
}
]"""


def device_receives(document) -> dict:
    """What the seed's aws_ota_test.py reads from a job execution wrapping ``document``.

    The expressions below are the seed's own (event_callback), unchanged.
    """
    message = json.dumps({"execution": {"jobId": "jobfota", "status": "QUEUED", "jobDocument": document}})
    receive_data = json.loads(message)  # ujson.loads(data.decode()) on the device
    operation = receive_data["execution"]["jobDocument"][0]["operation"]
    version = receive_data["execution"]["jobDocument"][0]["files"][0]["fileVersion"]
    out = {"operation": operation, "version": version}
    if operation == "FOTA":
        out["url1"] = receive_data["execution"]["jobDocument"][0]["files"][0]["fileSource"]["url"]
        files = receive_data["execution"]["jobDocument"][0]["files"]
        if len(files) > 1:  # minimal-system: httpDownload(url1=..., url2=...)
            out["url2"] = files[1]["fileSource"]["url"]
    elif operation == "app_fota":
        ota_data = [{"url": i["fileSource"]["url"], "file_name": i["fileName"]}
                    for i in receive_data["execution"]["jobDocument"][0]["files"]]
        out["ota_data"] = ota_data
    return out



def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), err
    assert "Traceback" not in err
    return lines[-1]


@pytest.fixture(scope="module")
def packages(programmer_old, programmer_new) -> dict[str, bytes]:
    new = FirmwareImage.single(programmer_new)
    old = FirmwareImage.single(programmer_old)
    return {
        "full": build_full(new, PackageOptions(target_version="0.9.0")),
        "delta": build_delta(old, new, PackageOptions(target_version="0.9.0", source_version="0.8.0")),
        "stage1": build_full(new, PackageOptions(target_version="0.9.0", kind="minimal-stage1")),
        "stage2": build_full(new, PackageOptions(target_version="0.9.0", kind="minimal-stage2")),
        "noversion": build_full(new, PackageOptions()),
        "stage2-other": build_full(new, PackageOptions(target_version="1.0.0", kind="minimal-stage2")),
    }


@pytest.fixture
def package_files(tmp_path, packages):
    paths = {}
    names = {"full": "EC600N_full.pack", "delta": "EC600N_V0008-V0009.pack", "stage1": "EC600N.mini_1",
             "stage2": "EC600N.mini_2", "noversion": "nover.pack", "stage2-other": "other.mini_2"}
    for key, name in names.items():
        paths[key] = tmp_path / name
        paths[key].write_bytes(packages[key])
    return paths


# -- the seed's shape --------------------------------------------------------------------


def test_seed_document_reproduced_byte_for_byte_in_shape():
    pfile = JobFile(name="EG915UEUAB_V0002-V0003.pack", version="EG915UEUABR03A21M08_OCPU_QPY",
                    url=UrlBase(S3, aws_presigned=True).url("EG915UEUAB_V0002-V0003.pack"))
    ours = JobDocument("FOTA", (pfile,), include_integrity=False).to_bytes()
    seed = json.loads(SEED_FOTA)
    assert json.loads(ours) == seed
    # same key order everywhere: re-dumping the seed gives our bytes exactly
    assert ours == (json.dumps(seed, indent=2) + "\n").encode()
    assert device_receives(json.loads(ours)) == device_receives(seed)


def test_seed_document_passes_check():
    result = check_job_bytes(SEED_FOTA.encode())
    assert result.ok and result.operation == "FOTA" and result.files == 1


def test_integrity_fields_after_the_seed_keys(package_files, packages):
    doc = fota_document([PackageFile("EC600N_full.pack", packages["full"])], UrlBase(S3 + "/fw"))
    entry = doc.to_json()[0]["files"][0]
    assert list(entry) == ["fileName", "fileVersion", "fileSource", "fileSize", "fileSha256"]
    assert entry["fileSize"] == len(packages["full"])
    import hashlib

    assert entry["fileSha256"] == hashlib.sha256(packages["full"]).hexdigest()
    assert list(doc.to_json()[0]) == ["operation", "files"]


# -- FOTA documents through the CLI ----------------------------------------------------------


def test_job_full_package_device_parses(tmp_path, capsys, package_files):
    out = tmp_path / "fota.json"
    code, stdout, err = run(capsys, "job", package_files["full"], "--url-base", S3, "--aws-presigned", "-o", out)
    assert code == 0, err
    doc = json.loads(out.read_bytes())
    got = device_receives(doc)
    assert got == {
        "operation": "FOTA",
        "version": "0.9.0",  # the package's target version
        "url1": "${aws:iot:s3-presigned-url:https://qpyota.s3.us-west-2.amazonaws.com/EC600N_full.pack}",
    }
    assert check_job_bytes(out.read_bytes()).ok


def test_job_delta_package_plain_url_and_file_version(tmp_path, capsys, package_files):
    code, stdout, err = run(capsys, "job", package_files["delta"], "--url-base", "https://fw.example.com/ota/",
                            "--file-version", "EC600NCNLCR01A01M08_OCPU_QPY", "--no-integrity")
    assert code == 0, err
    doc = json.loads(stdout)
    assert device_receives(doc) == {
        "operation": "FOTA", "version": "EC600NCNLCR01A01M08_OCPU_QPY",
        "url1": "https://fw.example.com/ota/EC600N_V0008-V0009.pack",
    }
    assert list(doc[0]["files"][0]) == ["fileName", "fileVersion", "fileSource"]


def test_job_minimal_pair_ordered_by_kind(tmp_path, capsys, package_files):
    out = tmp_path / "mini.json"
    # named stage 2 first: the document still lists stage 1 first (url1)
    code, _, err = run(capsys, "job", package_files["stage2"], package_files["stage1"], "--url-base", S3,
                       "--aws-presigned", "-o", out)
    assert code == 0, err
    doc = json.loads(out.read_bytes())
    got = device_receives(doc)
    assert got["url1"].endswith("/EC600N.mini_1}") and got["url2"].endswith("/EC600N.mini_2}")
    assert [f["fileName"] for f in doc[0]["files"]] == ["EC600N.mini_1", "EC600N.mini_2"]
    assert got["version"] == "0.9.0"
    assert check_job_bytes(out.read_bytes()).ok


def test_job_output_is_deterministic(tmp_path, capsys, package_files):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for out in (a, b):
        assert run(capsys, "job", package_files["stage1"], package_files["stage2"], "--url-base", S3, "-o", out)[0] == 0
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes().endswith(b"]\n")


@pytest.mark.parametrize(
    "keys, message",
    [
        (["stage1", "stage1"], "two packages must be one minimal-stage1 and one minimal-stage2, got "
                               "EC600N.mini_1 (minimal-stage1), EC600N.mini_1 (minimal-stage1)"),
        (["full", "stage2"], "two packages must be one minimal-stage1 and one minimal-stage2, got "
                             "EC600N_full.pack (full), EC600N.mini_2 (minimal-stage2)"),
        (["stage1"], "EC600N.mini_1 is a minimal-stage1 package: a minimal-system job needs both stages "
                     "(add the minimal-stage2 package)"),
        (["stage2"], "EC600N.mini_2 is a minimal-stage2 package: a minimal-system job needs both stages "
                     "(add the minimal-stage1 package)"),
        (["stage1", "stage2", "full"], "a FOTA job takes one package or a minimal-system pair, not 3 packages"),
        (["noversion"], "nover.pack: no target version in the package header; give the file version "
                        "(option --file-version)"),
        (["stage1", "stage2-other"], "the two stages declare different target versions (0.9.0, 1.0.0); "
                                     "give the file version (option --file-version)"),
    ],
)
def test_job_rejects_bad_package_sets(capsys, package_files, keys, message):
    code, out, err = run(capsys, "job", *[package_files[k] for k in keys], "--url-base", S3)
    assert code == UsageError.exit_code
    assert error_line(err) == f"error: {message}"
    assert out == ""


def test_job_rejects_a_non_package(tmp_path, capsys):
    bogus = tmp_path / "x.pack"
    bogus.write_bytes(b"not a package at all, just text" * 4)
    code, _, err = run(capsys, "job", bogus, "--url-base", S3)
    assert code == PackageFormatError.exit_code
    assert error_line(err).startswith("error: x.pack: ")


@pytest.mark.parametrize(
    "url_base, presigned, message, options",
    [
        ("https://fw.example.com/ota", True,
         "presigned S3 URLs need a URL base of the form https://BUCKET.s3.REGION.amazonaws.com[/PREFIX] "
         "(or https://s3.REGION.amazonaws.com/BUCKET[/PREFIX]), got 'https://fw.example.com/ota'",
         ("aws_presigned", "url_base")),
        ("http://qpyota.s3.us-west-2.amazonaws.com", True,
         "presigned S3 URLs need a URL base of the form https://BUCKET.s3.REGION.amazonaws.com[/PREFIX] "
         "(or https://s3.REGION.amazonaws.com/BUCKET[/PREFIX]), got 'http://qpyota.s3.us-west-2.amazonaws.com'",
         ("aws_presigned", "url_base")),
        ("s3://qpyota/fw", False, "the URL base must be an http:// or https:// URL, got 's3://qpyota/fw'",
         ("url_base",)),
        ("ftp://user:pw@1.2.3.4/fw", False,
         "the URL base must be an http:// or https:// URL, got 'ftp://user:pw@1.2.3.4/fw'", ("url_base",)),
    ],
)
def test_url_base_errors(capsys, package_files, url_base, presigned, message, options):
    with pytest.raises(UsageError) as info:
        UrlBase(url_base, presigned)
    assert str(info.value) == message and info.value.options == options  # no flag in the library's message
    args = ["job", package_files["full"], "--url-base", url_base] + (["--aws-presigned"] if presigned else [])
    code, _, err = run(capsys, *args)
    assert code == UsageError.exit_code
    flags = ", ".join("--" + o.replace("_", "-") for o in options)
    assert error_line(err) == f"error: {message} (option{'s' if len(options) > 1 else ''} {flags})"


def test_presigned_from_path_style_and_prefix():
    assert UrlBase("https://s3.eu-central-1.amazonaws.com/my-bucket/rel/1.2/", True).url("lib/a b.py") == (
        "${aws:iot:s3-presigned-url:https://my-bucket.s3.eu-central-1.amazonaws.com/rel/1.2/lib/a%20b.py}"
    )
    assert UrlBase(S3, True).url("a.py") == "${aws:iot:s3-presigned-url:" + S3 + "/a.py}"


def test_job_needs_url_base_and_packages(capsys, package_files):
    code, _, err = run(capsys, "job", package_files["full"])
    assert code == 2 and error_line(err) == "error: --url-base is required to write a job document"
    code, _, err = run(capsys, "job", "--url-base", S3)
    assert code == 2 and error_line(err) == (
        "error: no package given: otapack job PACKAGE... --url-base URL (or --check JOB.json)")


# -- --check -------------------------------------------------------------------------------


def _file(**over):
    entry = {"fileName": "fw.pack", "fileVersion": "V1", "fileSource": {"url": "https://h/fw.pack"}}
    entry.update(over)
    return {k: v for k, v in entry.items() if v is not None}


def problems(document) -> list[str]:
    return [str(p) for p in validate_job_document(document)]


@pytest.mark.parametrize(
    "document, expected",
    [
        ({"operation": "FOTA"}, ["$: must be a list of operations (the device reads jobDocument[0]), not object"]),
        ([], ["$: empty list: the device reads jobDocument[0]"]),
        ([{"files": [_file()]}], ["$[0]: missing key 'operation'"]),
        ([{"operation": "FOTA"}], ["$[0]: missing key 'files'"]),
        ([{"operation": 1, "files": [_file()]}], ["$[0].operation: must be a string, not integer"]),
        ([{"operation": "OTA", "files": [_file()]}], ["$[0].operation: 'OTA' is not one of FOTA, app_fota"]),
        ([{"operation": "FOTA", "files": {}}], ["$[0].files: must be a list, not object"]),
        ([{"operation": "FOTA", "files": []}], ["$[0].files: is empty: the job names no file"]),
        ([{"operation": "app_fota", "files": []}], ["$[0].files: is empty: the job names no file"]),
        ([{"operation": "FOTA", "files": [_file(fileName="a"), _file(fileName="b"), _file(fileName="c")]}],
         ["$[0].files: FOTA takes one package or a minimal-system pair (url1, url2), not 3 files"]),
        ([{"operation": "FOTA", "files": [_file(fileVersion=None)]}], ["$[0].files[0]: missing key 'fileVersion'"]),
        ([{"operation": "FOTA", "files": [_file(fileSource=None)]}], ["$[0].files[0]: missing key 'fileSource'"]),
        ([{"operation": "FOTA", "files": [_file(fileName=None)]}], ["$[0].files[0]: missing key 'fileName'"]),
        ([{"operation": "FOTA", "files": [_file(fileVersion=2.0)]}],
         ["$[0].files[0].fileVersion: must be a string, not number"]),
        ([{"operation": "FOTA", "files": [_file(fileName="")]}], ["$[0].files[0].fileName: is empty"]),
        ([{"operation": "FOTA", "files": [_file(fileSource="https://h/x")]}],
         ["$[0].files[0].fileSource: must be an object, not string"]),
        ([{"operation": "FOTA", "files": [_file(fileSource={})]}], ["$[0].files[0].fileSource: missing key 'url'"]),
        ([{"operation": "FOTA", "files": [_file(fileSource={"url": "ftp://u:p@1.2.3.4/fw.bin"})]}],
         ["$[0].files[0].fileSource.url: must be http(s) or a ${aws:iot:s3-presigned-url:...} placeholder, "
          "got 'ftp://u:p@1.2.3.4/fw.bin'"]),
        ([{"operation": "FOTA", "files": [_file(fileSource={"url": "${aws:iot:s3-presigned-url:https://x.s3.r.amazonaws.com/k"})]}],
         ["$[0].files[0].fileSource.url: is a placeholder but not "
          "${aws:iot:s3-presigned-url:https://BUCKET.s3.REGION.amazonaws.com/KEY}"]),
        ([{"operation": "FOTA", "files": [_file(fileSource={"url": "${aws:iot:s3-presigned-url:https://example.com/k}"})]}],
         ["$[0].files[0].fileSource.url: presigned placeholder must wrap an https S3 URL, got 'https://example.com/k'"]),
        ([{"operation": "FOTA", "files": [_file(fileSource={"url": 5})]}],
         ["$[0].files[0].fileSource.url: must be a string, not integer"]),
        ([{"operation": "FOTA", "files": [_file(filename="x")]}],
         ["$[0].files[0]: unknown key 'filename' (expected fileName, fileVersion, fileSource, fileSize, fileSha256)"]),
        ([{"operation": "FOTA", "files": [_file(fileSize=-1)]}],
         ["$[0].files[0].fileSize: must be a non-negative integer, not -1"]),
        ([{"operation": "FOTA", "files": [_file(fileSha256="ABC")]}],
         ["$[0].files[0].fileSha256: must be 64 lowercase hex digits"]),
        ([{"operation": "app_fota", "files": [_file(fileName="a.py")]}],
         ["$[0].files[0].fileName: app_fota fileName must be an absolute device path (like /usr/a.py), got 'a.py'"]),
        ([{"operation": "app_fota", "files": [_file(fileName="/usr/../etc/x")]}],
         ["$[0].files[0].fileName: device path '/usr/../etc/x' has an empty, '.' or '..' component"]),
        ([{"operation": "app_fota", "files": [_file(fileName="/usr/a.py"), _file(fileName="/usr/a.py")]}],
         ["$[0].files[1].fileName: '/usr/a.py' already named by files[0]"]),
        ([{"operation": "app_fota", "files": [_file(fileName="/usr/a.py"), _file(fileName="/usr/b.py", fileVersion="3")]}],
         ["$[0].files[1].fileVersion: '3' differs from files[0] ('V1'); the device compares only files[0]"]),
        ([{"operation": "FOTA", "files": [_file()]}, {"operation": "app_fota", "files": [_file(fileName="/usr/a")]}],
         ["$: 2 entries; the device reads only jobDocument[0]"]),
        (["FOTA"], ["$[0]: must be an object, not string"]),
    ],
)
def test_check_messages(document, expected):
    assert problems(document) == expected


def test_order_when_several_keys_are_wrong():
    """Per object: unknown keys, then missing keys, then each present key in table order."""
    document = [{"operation": "FOTA", "files": [
        {"fileName": "", "fileVersion": 1, "fileSource": {"url": "ftp://x", "k": 1}, "fileSize": -1, "x": 2}],
        "y": 1}, 3]
    assert problems(document) == [
        "$: 2 entries; the device reads only jobDocument[0]",
        "$[0]: unknown key 'y' (expected operation, files)",
        "$[0].files[0]: unknown key 'x' (expected fileName, fileVersion, fileSource, fileSize, fileSha256)",
        "$[0].files[0].fileName: is empty",
        "$[0].files[0].fileVersion: must be a string, not integer",
        "$[0].files[0].fileSource: unknown key 'k' (expected url)",
        "$[0].files[0].fileSource.url: must be http(s) or a ${aws:iot:s3-presigned-url:...} placeholder, "
        "got 'ftp://x'",
        "$[0].files[0].fileSize: must be a non-negative integer, not -1",
        "$[1]: must be an object, not integer",
    ]


@pytest.mark.parametrize("kwargs, message", [
    ({"name": ""}, "job file '': fileName: is empty"),
    ({"version": ""}, "job file 'fw.pack': fileVersion: is empty"),
    ({"url": "ftp://h/fw.pack"}, "job file 'fw.pack': fileSource.url: must be http(s) or a "
                                 "${aws:iot:s3-presigned-url:...} placeholder, got 'ftp://h/fw.pack'"),
    ({"size": True}, "job file 'fw.pack': fileSize: must be a non-negative integer, not True"),
    ({"sha256": "ABC"}, "job file 'fw.pack': fileSha256: must be 64 lowercase hex digits"),
])
def test_job_file_checked_by_the_validator_table(kwargs, message):
    """The dataclasses apply the validator's own rules: what we write always passes --check."""
    fields = dict(name="fw.pack", version="V1", url="https://h/fw.pack")
    with pytest.raises(UsageError) as info:
        JobFile(**{**fields, **kwargs})
    assert str(info.value) == message


def test_job_document_checked_by_the_validator_table():
    one = JobFile(name="/usr/a.py", version="V1", url="https://h/a.py")
    with pytest.raises(UsageError) as info:
        JobDocument("app_fota", (one, one))
    assert str(info.value) == "invalid job document: $[0].files[1].fileName: '/usr/a.py' already named by files[0]"
    with pytest.raises(UsageError) as info:
        JobDocument("app_fota", (JobFile(name="a.py", version="V1", url="https://h/a.py"),))
    assert str(info.value) == ("invalid job document: $[0].files[0].fileName: app_fota fileName must be an "
                               "absolute device path (like /usr/a.py), got 'a.py'")
    with pytest.raises(UsageError, match=r"\$\[0\]\.operation: 'OTA' is not one of FOTA, app_fota$"):
        JobDocument("OTA", (one,))


def test_check_accepts_v2_placeholder():
    url = "${aws:iot:s3-presigned-url-v2:https://s3.us-west-2.amazonaws.com/qpyota/fw.pack}"
    assert problems([{"operation": "FOTA", "files": [_file(fileSource={"url": url})]}]) == []


def test_check_size_limit():
    big = [{"operation": "app_fota", "files": [
        _file(fileName=f"/usr/f{i:04d}.py", fileSource={"url": f"https://h/f{i:04d}.py"}) for i in range(400)]}]
    data = json.dumps(big).encode()
    assert len(data) > AWS_JOB_DOCUMENT_LIMIT
    assert str(check_job_bytes(data).problems[0]) == (
        f"document is {len(data)} bytes; AWS IoT accepts job documents up to {AWS_JOB_DOCUMENT_LIMIT}")


def test_check_json_errors():
    with pytest.raises(InputError, match=r"^job document: invalid JSON at line 1 column 3: Expecting property name"):
        check_job_bytes(b"[{oops")
    with pytest.raises(InputError, match=r"^job document: duplicate key 'operation'$"):
        check_job_bytes(b'[{"operation": "FOTA", "operation": "app_fota", "files": []}]')
    with pytest.raises(InputError, match=r"^job document: \$\[0\]: missing key 'files'$"):
        require_valid(b'[{"operation": "FOTA"}]')


def test_check_cli_ok_and_errors(tmp_path, capsys):
    good = tmp_path / "fota.json"
    good.write_text(SEED_FOTA)
    code, out, err = run(capsys, "job", "--check", good)
    assert code == 0 and out == f"{good}: ok (FOTA, 1 file)\n"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"operation": "FOTA", "files": [_file(fileVersion=None), _file(fileName="b"),
                                                                _file(fileName="c")]}]))
    code, out, err = run(capsys, "job", "--check", bad)
    assert code == InputError.exit_code
    lines = err.splitlines()
    assert lines == [
        f"{bad}: $[0].files: FOTA takes one package or a minimal-system pair (url1, url2), not 3 files",
        f"{bad}: $[0].files[0]: missing key 'fileVersion'",
        f"error: {bad}: invalid job document (2 problems)",
    ]
    code, out, err = run(capsys, "job", "--check", bad, "--json")
    assert code == InputError.exit_code
    report = json.loads(out)
    assert report["ok"] is False and len(report["problems"]) == 2
    assert report["problems"][1] == {"path": "$[0].files[0]", "message": "missing key 'fileVersion'"}


def test_check_excludes_build_options(tmp_path, capsys, package_files):
    good = tmp_path / "fota.json"
    good.write_text(SEED_FOTA)
    code, _, err = run(capsys, "job", package_files["full"], "--check", good)
    assert code == 2
    assert error_line(err) == "error: --check takes only the job document (no packages, --url-base, -o, ...)"


def test_generated_documents_always_pass_check(package_files, packages):
    for keys in (["full"], ["delta"], ["stage1", "stage2"]):
        for presigned in (False, True):
            files = [PackageFile(package_files[k].name, packages[k]) for k in keys]
            data = fota_document(files, UrlBase(S3 + "/fw/", presigned)).to_bytes()
            assert check_job_bytes(data).ok, keys
            assert re.fullmatch(rb"[\x0a\x20-\x7e]+", data)  # plain ASCII, like the seed
