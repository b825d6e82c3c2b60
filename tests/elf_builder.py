"""A minimal ELF32 little-endian writer for tests (pyelftools only reads).

Declared with construct like the formats in otapack/core/formats: the ELF header,
program header and section header, then ``build_elf`` lays out: header,
program headers, segment data, ``.shstrtab``, section headers.  Each
``Segment`` becomes one PT_LOAD program header and one section; a segment
with ``memsz`` > ``len(data)`` also gets a NOBITS ``.bss``-style tail.
"""

from __future__ import annotations

from dataclasses import dataclass

from construct import Const, Int8ul, Int16ul, Int32ul, Padding, Struct

ELFCLASS32, ELFDATA2LSB, EV_CURRENT = 1, 1, 1
ET_REL, ET_EXEC, ET_DYN = 1, 2, 3
EM_ARM = 40
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
PF_X, PF_W, PF_R = 1, 2, 4
SHT_NULL, SHT_PROGBITS, SHT_STRTAB, SHT_NOBITS = 0, 1, 3, 8
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4

Elf32Header = Struct(
    "magic" / Const(b"\x7fELF"),
    "ei_class" / Int8ul,
    "ei_data" / Int8ul,
    "ei_version" / Int8ul,
    "ei_osabi" / Int8ul,
    Padding(8),
    "e_type" / Int16ul,
    "e_machine" / Int16ul,
    "e_version" / Int32ul,
    "e_entry" / Int32ul,
    "e_phoff" / Int32ul,
    "e_shoff" / Int32ul,
    "e_flags" / Int32ul,
    "e_ehsize" / Int16ul,
    "e_phentsize" / Int16ul,
    "e_phnum" / Int16ul,
    "e_shentsize" / Int16ul,
    "e_shnum" / Int16ul,
    "e_shstrndx" / Int16ul,
)

Elf32ProgramHeader = Struct(
    "p_type" / Int32ul,
    "p_offset" / Int32ul,
    "p_vaddr" / Int32ul,
    "p_paddr" / Int32ul,
    "p_filesz" / Int32ul,
    "p_memsz" / Int32ul,
    "p_flags" / Int32ul,
    "p_align" / Int32ul,
)

Elf32SectionHeader = Struct(
    "sh_name" / Int32ul,
    "sh_type" / Int32ul,
    "sh_flags" / Int32ul,
    "sh_addr" / Int32ul,
    "sh_offset" / Int32ul,
    "sh_size" / Int32ul,
    "sh_link" / Int32ul,
    "sh_info" / Int32ul,
    "sh_addralign" / Int32ul,
    "sh_entsize" / Int32ul,
)

assert Elf32Header.sizeof() == 52 and Elf32ProgramHeader.sizeof() == 32 and Elf32SectionHeader.sizeof() == 40


@dataclass
class Segment:
    paddr: int
    data: bytes
    section: str = ".text"
    flags: str = "RX"  # any of R, W, X
    vaddr: int | None = None  # defaults to paddr
    memsz: int | None = None  # defaults to len(data); larger adds a NOBITS tail


def _flags(text: str) -> int:
    return (PF_R if "R" in text else 0) | (PF_W if "W" in text else 0) | (PF_X if "X" in text else 0)


def _align(n: int, a: int = 4) -> int:
    return (n + a - 1) // a * a


def build_elf(segments: list[Segment], *, entry: int = 0, machine: int = EM_ARM, e_type: int = ET_EXEC,
              interp: bytes | None = None) -> bytes:
    """``interp`` adds a PT_INTERP program header (a dynamically linked
    program names its loader), its string stored after the section headers."""
    phoff = Elf32Header.sizeof()
    phnum = len(segments) + (1 if interp is not None else 0)
    pos = _align(phoff + phnum * Elf32ProgramHeader.sizeof())
    offsets = []
    for seg in segments:
        offsets.append(pos)
        pos = _align(pos + len(seg.data))
    names = [""]
    for seg in segments:
        names.append(seg.section)
        if seg.memsz and seg.memsz > len(seg.data):
            names.append(seg.section + ".bss")
    names.append(".shstrtab")
    strtab = b""
    name_index = {}
    for name in names:
        name_index.setdefault(name, len(strtab))
        strtab += name.encode() + b"\0"
    strtab_offset = pos
    shoff = _align(strtab_offset + len(strtab))

    program_headers = b""
    sections = [dict(sh_name=0, sh_type=SHT_NULL, sh_flags=0, sh_addr=0, sh_offset=0, sh_size=0,
                     sh_link=0, sh_info=0, sh_addralign=0, sh_entsize=0)]
    for seg, offset in zip(segments, offsets):
        vaddr = seg.paddr if seg.vaddr is None else seg.vaddr
        memsz = seg.memsz or len(seg.data)
        program_headers += Elf32ProgramHeader.build(dict(
            p_type=PT_LOAD, p_offset=offset, p_vaddr=vaddr, p_paddr=seg.paddr, p_filesz=len(seg.data),
            p_memsz=memsz, p_flags=_flags(seg.flags), p_align=4,
        ))
        sh_flags = SHF_ALLOC | (SHF_EXECINSTR if "X" in seg.flags else 0) | (SHF_WRITE if "W" in seg.flags else 0)
        if seg.data:
            sections.append(dict(sh_name=name_index[seg.section], sh_type=SHT_PROGBITS, sh_flags=sh_flags,
                                 sh_addr=vaddr, sh_offset=offset, sh_size=len(seg.data), sh_link=0, sh_info=0,
                                 sh_addralign=4, sh_entsize=0))
        if memsz > len(seg.data):
            sections.append(dict(sh_name=name_index[seg.section + ".bss"] if seg.data else name_index[seg.section],
                                 sh_type=SHT_NOBITS, sh_flags=SHF_ALLOC | SHF_WRITE,
                                 sh_addr=vaddr + len(seg.data), sh_offset=offset + len(seg.data),
                                 sh_size=memsz - len(seg.data), sh_link=0, sh_info=0, sh_addralign=4,
                                 sh_entsize=0))
    sections.append(dict(sh_name=name_index[".shstrtab"], sh_type=SHT_STRTAB, sh_flags=0, sh_addr=0,
                         sh_offset=strtab_offset, sh_size=len(strtab), sh_link=0, sh_info=0, sh_addralign=1,
                         sh_entsize=0))
    interp_offset = shoff + len(sections) * Elf32SectionHeader.sizeof()
    if interp is not None:
        program_headers += Elf32ProgramHeader.build(dict(
            p_type=PT_INTERP, p_offset=interp_offset, p_vaddr=0, p_paddr=0, p_filesz=len(interp),
            p_memsz=len(interp), p_flags=PF_R, p_align=1,
        ))
    header = Elf32Header.build(dict(
        ei_class=ELFCLASS32, ei_data=ELFDATA2LSB, ei_version=EV_CURRENT, ei_osabi=0,
        e_type=e_type, e_machine=machine, e_version=EV_CURRENT, e_entry=entry, e_phoff=phoff,
        e_shoff=shoff, e_flags=0, e_ehsize=52, e_phentsize=32, e_phnum=phnum,
        e_shentsize=40, e_shnum=len(sections), e_shstrndx=len(sections) - 1,
    ))
    out = bytearray(header + program_headers)
    for seg, offset in zip(segments, offsets):
        out += b"\0" * (offset - len(out))
        out += seg.data
    out += b"\0" * (strtab_offset - len(out))
    out += strtab
    out += b"\0" * (shoff - len(out))
    for section in sections:
        out += Elf32SectionHeader.build(section)
    if interp is not None:
        out += interp
    return bytes(out)
