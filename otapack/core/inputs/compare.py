"""Old vs new firmware, partition by partition.

A package can only be made from two firmware images with the same
partition structure (same names, addresses and slot sizes);
``check_compatible`` says which partition breaks that.  ``compare`` reports
each partition as unchanged, changed, resized (same slot, different data
length), added or removed, and whether the two are compatible.  Non-flash
items (PAC loaders, NV, configuration) are compared too (``items``): they
never travel in a package, so ``item_changes`` names those that differ, for
a build to say what the package leaves out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from otapack.errors import IncompatibleImagesError
from otapack.core.model import FirmwareImage, ImageItem, Partition
from otapack.core.inputs.detect import erased_fraction

STATUSES = ("unchanged", "changed", "resized", "added", "removed")
_CHUNK = 4096


def _label(image: FirmwareImage, default: str) -> str:
    label = image.details.get("label") if image.details else None
    return f"{default} ({label})" if label else default


def structure_problem(old: FirmwareImage, new: FirmwareImage) -> str | None:
    """The first structural difference, as a sentence, or None."""
    o, n = _label(old, "old"), _label(new, "new")
    new_names = set(new.names())
    old_names = set(old.names())
    for p in old.partitions:
        if p.name not in new_names:
            return f"partition {p.name!r} is in {o} but not in {n}"
    for p in new.partitions:
        if p.name not in old_names:
            return f"partition {p.name!r} is in {n} but not in {o}"
    for p in old.partitions:
        q = new.get(p.name)
        if p.address != q.address:
            return f"partition {p.name!r} is at {p.address:#x} in {o} but at {q.address:#x} in {n}"
        # A slot of unknown size (a bare image) may hold data of any length.
        if p.slot_size is not None and q.slot_size is not None and p.slot_size != q.slot_size:
            return (
                f"partition {p.name!r} has a {p.capacity:#x}-byte slot in {o} but a "
                f"{q.capacity:#x}-byte slot in {n}"
            )
    return None


def check_compatible(old: FirmwareImage, new: FirmwareImage) -> None:
    """Raise IncompatibleImagesError unless both share one partition structure."""
    problem = structure_problem(old, new)
    if problem is not None:
        raise IncompatibleImagesError(f"old and new firmware have different partition structures: {problem}")


def byte_differences(a: bytes, b: bytes) -> tuple[int, int | None, int | None]:
    """(count, first offset, last offset) of differing bytes; a length
    difference counts every byte beyond the shorter one."""
    common = min(len(a), len(b))
    count, first, last = 0, None, None
    for start in range(0, common, _CHUNK):
        stop = min(start + _CHUNK, common)
        x, y = a[start:stop], b[start:stop]
        if x == y:
            continue
        xor = (int.from_bytes(x, "big") ^ int.from_bytes(y, "big")).to_bytes(len(x), "big")
        count += len(xor) - xor.count(0)
        if first is None:
            first = start + len(xor) - len(xor.lstrip(b"\0"))
        last = start + len(xor.rstrip(b"\0")) - 1
    if len(a) != len(b):
        count += abs(len(a) - len(b))
        if first is None:
            first = common
        last = max(len(a), len(b)) - 1
    return count, first, last


def _side(p: Partition | None, image: FirmwareImage) -> dict | None:
    if p is None:
        return None
    content = (image.details or {}).get("content", {}).get(p.name)
    return {
        "address": p.address,
        "size": p.size,
        "slot_size": p.capacity,
        "type": p.type.value,
        "content": content,
        "policy": p.policy.value,
        "sha256": p.sha256().hex(),
        "erased_fraction": round(erased_fraction(p.data, image.erased_value), 6),
    }


@dataclass(frozen=True)
class PartitionDiff:
    name: str
    status: str
    old: dict | None
    new: dict | None
    bytes_differing: int = 0
    first_difference: int | None = None
    last_difference: int | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "status": self.status,
            "old": self.old,
            "new": self.new,
            "bytes_differing": self.bytes_differing,
            "first_difference": self.first_difference,
            "last_difference": self.last_difference,
        }


@dataclass(frozen=True)
class ItemDiff:
    """A non-flash item in old and new: unchanged, changed, added or removed."""

    name: str
    kind: str
    status: str
    handling: str
    old_sha256: str | None = None
    new_sha256: str | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "status": self.status, "handling": self.handling,
                "old_sha256": self.old_sha256, "new_sha256": self.new_sha256}


def _item_digest(item: ImageItem | None) -> str | None:
    return None if item is None else item.sha256().hex()


def compare_items(old: FirmwareImage, new: FirmwareImage) -> tuple[ItemDiff, ...]:
    olds = {i.name: i for i in old.items}
    news = {i.name: i for i in new.items}
    out = []
    for name in list(olds) + [n for n in news if n not in olds]:
        a, b = olds.get(name), news.get(name)
        if a is None:
            status = "added"
        elif b is None:
            status = "removed"
        else:
            status = "unchanged" if (a.kind, a.data) == (b.kind, b.data) else "changed"
        either = b or a
        out.append(ItemDiff(name, either.kind.value, status, either.handling, _item_digest(a), _item_digest(b)))
    return tuple(out)


def item_changes(old: FirmwareImage, new: FirmwareImage) -> list[str]:
    """One sentence per non-flash item that differs between old and new
    (the package does not carry it), e.g. for a notice on stderr."""
    return [
        f"{d.kind} item {d.name!r} is {d.status} in the new firmware; a package does not carry it ({d.handling})"
        for d in compare_items(old, new) if d.status != "unchanged"
    ]


@dataclass(frozen=True)
class CompareReport:
    old_label: str
    new_label: str
    old_source: str
    new_source: str
    partitions: tuple[PartitionDiff, ...]
    #: None when compatible, else the sentence check_compatible would raise with.
    incompatibility: str | None = None
    items: tuple[ItemDiff, ...] = ()
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def compatible(self) -> bool:
        return self.incompatibility is None

    def counts(self) -> dict[str, int]:
        result = dict.fromkeys(STATUSES, 0)
        for d in self.partitions:
            result[d.status] += 1
        return result

    def get(self, name: str) -> PartitionDiff | None:
        return next((d for d in self.partitions if d.name == name), None)

    def to_dict(self) -> dict:
        return {
            "old": {"label": self.old_label, "source": self.old_source},
            "new": {"label": self.new_label, "source": self.new_source},
            "compatible": self.compatible,
            "incompatibility": self.incompatibility,
            "summary": self.counts(),
            "partitions": [d.to_dict() for d in self.partitions],
            "items": [d.to_dict() for d in self.items],
        }


def compare(old: FirmwareImage, new: FirmwareImage) -> CompareReport:
    """Partition-by-partition differences; never raises on incompatibility
    (see ``CompareReport.incompatibility`` and ``check_compatible``)."""
    diffs = []
    order = list(old.names()) + [n for n in new.names() if old.get(n) is None]
    for name in order:
        p, q = old.get(name), new.get(name)
        if q is None:
            diffs.append(PartitionDiff(name, "removed", _side(p, old), None, p.size, None, None))
            continue
        if p is None:
            diffs.append(PartitionDiff(name, "added", None, _side(q, new), q.size, None, None))
            continue
        if p.data == q.data:
            status, count, first, last = "unchanged", 0, None, None
        else:
            count, first, last = byte_differences(p.data, q.data)
            status = "resized" if p.size != q.size else "changed"
        diffs.append(PartitionDiff(name, status, _side(p, old), _side(q, new), count, first, last))
    problem = structure_problem(old, new)
    return CompareReport(
        old_label=(old.details or {}).get("label", "old"),
        new_label=(new.details or {}).get("label", "new"),
        old_source=old.source,
        new_source=new.source,
        partitions=tuple(diffs),
        items=compare_items(old, new),
        incompatibility=None if problem is None else
        f"old and new firmware have different partition structures: {problem}",
    )
