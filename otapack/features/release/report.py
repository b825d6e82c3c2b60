"""``release.json``: every package, job document and route of a release.

The document is a pure function of the inputs (no timings, no absolute
paths, no cache state), written with sorted keys, 2-space indent and a
final newline, so the same release gives the same bytes on every machine,
executor and worker count.  ``REPORT_FORMAT`` names its version;
docs/release.md specifies the fields.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter

from otapack.core.container import read_package
from otapack.core.inputs import compare
from otapack.features.release.inputs import ImageInput, ModelInput, ReleaseInputs
from otapack.features.release.routes import Route
from otapack.features.signing import parse_record
from otapack.version import __version__

REPORT_FORMAT = "otapack-release-v1"
#: What a package is in a release (``role``).
ROLES = ("full", "delta", "stage1", "stage2")


def dump_json(document: dict) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")


def _signature(slot: bytes) -> dict | None:
    if not slot:
        return None
    algorithm, key_id, _ = parse_record(slot)
    return {"algorithm": algorithm.name, "key_id": key_id.hex()}


def package_entry(path: str, data: bytes, model: str, role: str) -> dict:
    """One package: what it is, what it needs on the device, what it does per partition."""
    pkg = read_package(data)
    h = pkg.header
    partitions = []
    for r in pkg.partitions:
        partitions.append({
            "name": r.name, "operation": r.operation, "reason": r.reason,
            "codec": r.codec if r.has_payload else None,
            "payload_bytes": r.payload_length if r.has_payload else 0,
            "source_size": r.source_size if r.source_sha256 is not None else None,
            "target_size": r.target_size if r.target_sha256 is not None else None,
        })
    hardware = h.extension("hardware-id")
    return {
        "path": path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "kind": h.kind,
        "role": role, "model": model, "model_id": h.model,
        "hardware_id": hardware.decode("ascii") if hardware is not None else None,
        "source_version": h.source_version or None, "target_version": h.target_version,
        "security_counter": h.security_counter, "build_time": h.build_time,
        "ram_required": h.ram_required, "lzma_dict_size": h.lzma_dict_size, "erase_block": h.erase_block,
        "scratch_flash": h.scratch_flash,
        "flash_needed": -(-len(data) // h.erase_block) * h.erase_block + h.scratch_flash,
        "body_sha256": pkg.body_sha256.hex(), "signature": _signature(pkg.signature_slot),
        "partitions": partitions, "operations": dict(sorted(Counter(p["operation"] for p in partitions).items())),
    }


def job_entry(path: str, data: bytes, document) -> dict:
    return {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
            "operation": document.operation, "file_version": document.files[0].version,
            "files": [f.name for f in document.files]}


def changes(old: ImageInput, new: ImageInput) -> list[dict]:
    """Per partition, what differs between the deployed build and the target."""
    return [{"partition": d.name, "status": d.status, "bytes_differing": d.bytes_differing,
             "old_size": d.old["size"] if d.old else None, "new_size": d.new["size"] if d.new else None}
            for d in compare(old.image, new.image).partitions]


def _image(image: ImageInput) -> dict:
    return {"version": image.version, "image": image.given, "sha256": image.sha256, "size": image.size,
            "partitions": [{"name": p.name, "address": p.address, "size": p.size, "type": p.type.value,
                            "policy": p.policy.value, "sha256": p.sha256().hex()} for p in image.image.partitions]}


def route_entry(route: Route, source: ImageInput, target: ImageInput, packages: list[str], job: str) -> dict:
    chosen = route.candidate(route.method)
    return {"source": _image(source), "source_version": route.source_version, "method": route.method,
            "reason": route.reason, "packages": packages, "job": job, "download_bytes": chosen.download_bytes,
            "candidates": [c.to_dict() for c in route.candidates], "changes": changes(source, target)}


def model_entry(m: ModelInput, full: dict, full_fit, routes: list[dict]) -> dict:
    spec = m.spec
    signing = None
    if m.key is not None:
        signing = {"algorithm": m.key.algorithm.name, "key_id": m.key.public.key_id.hex()}
    minimal = None
    if m.minimal is not None:
        minimal = {"image": spec.minimal_system.given, "sha256": m.minimal_sha256,
                   "partition": m.minimal_config.partition}
    target = dict(_image(m.target), file_version=spec.target.file_version or m.target.version)
    return {
        "name": spec.name, "model_id": spec.model, "hardware_id": spec.hardware_id or None,
        "security_counter": spec.security_counter, "layout": m.layout_given, "signing": signing,
        "budget": m.budget.to_dict(), "minimal_system": minimal, "target": target,
        "full": dict(full, fit=full_fit.to_dict()), "routes": routes,
    }


def release_document(inputs: ReleaseInputs, models: list[dict], packages: list[dict], jobs: list[dict],
                     verified: bool) -> dict:
    s = inputs.manifest.settings
    methods = Counter(r["method"] for m in models for r in m["routes"])
    return {
        "format": REPORT_FORMAT, "release": s.name, "tool_version": __version__, "build_time": inputs.build_time,
        "manifest": {"name": inputs.manifest.path.name, "sha256": inputs.manifest.sha256},
        "settings": {"url_base": s.url_base, "aws_presigned": s.aws_presigned, "job_integrity": s.job_integrity,
                     "full_fallback_ratio": s.full_fallback_ratio, "lzma_dict_size": s.lzma_dict_size,
                     "diff_algorithm": s.diff_algorithm, "verified": verified},
        "models": models,
        "packages": sorted(packages, key=lambda p: p["path"]),
        "jobs": sorted(jobs, key=lambda j: j["path"]),
        "totals": {"models": len(models), "routes": sum(methods.values()), "methods": dict(sorted(methods.items())),
                   "packages": len(packages), "package_bytes": sum(p["size"] for p in packages),
                   "jobs": len(jobs)},
    }
