"""Build a VBA project (``vbaProject.bin``) from VBA source text, without Excel.

The coordinator panel workbook (.xlsm) carries VBA modules whose Subs call xlwings'
``RunPython``. Their source lives as exported text files (``macros/*.bas``); this module
turns such sources into the binary VBA project that XlsxWriter embeds with
``workbook.add_vba_project(path)``.

Formats (Microsoft Open Specifications):

* [MS-OVBA] *Office VBA File Format Structure*: the project's streams (``PROJECT``,
  ``PROJECTwm``, ``VBA/dir``, ``VBA/_VBA_PROJECT``, one module stream per module), the
  compression of ``dir`` and of module source (2.4.1) and the obfuscation of the
  protection fields CMG/DPB/GC of the ``PROJECT`` stream (2.4.3).
* [MS-CFB] *Compound File Binary File Format*: the OLE container holding those streams
  (version 3, 512-byte sectors, with a mini stream for streams under 4096 bytes).

No compiled p-code is written: ``_VBA_PROJECT`` has ``Version`` 0xFFFF and no
PerformanceCache, and every module stream is only its compressed source (MODULEOFFSET 0).
[MS-OVBA] 1.6 and 2.3.4.1 say this is the interoperable form: Office ignores the
performance caches and compiles the project from source when it opens it.

Public functions: :func:`compress`, :func:`decompress`, :func:`build_vba_project`,
:func:`read_bas`; plus the helpers :func:`encrypt_data` / :func:`decrypt_data` (2.4.3) and
:func:`build_compound_file` (MS-CFB) that the builder uses.
"""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

__all__ = [
    "compress",
    "decompress",
    "encrypt_data",
    "decrypt_data",
    "build_compound_file",
    "build_vba_project",
    "read_bas",
    "module_source",
]

# ======================================================================================
# [MS-OVBA] 2.4.1 Compression and decompression
# ======================================================================================

_CHUNK = 4096  # 2.4.1.1.4: a DecompressedChunk holds at most 4096 bytes
_MAX_COMPRESSED_CHUNK = 4098  # 2.4.1.1.4: a CompressedChunk is at most 4098 bytes (2 + 4096)


def _copy_token_help(difference: int) -> tuple[int, int, int, int]:
    """[MS-OVBA] 2.4.1.3.19.1 CopyToken Help.

    ``difference`` is DecompressedCurrent - DecompressedChunkStart. Returns
    (LengthMask, OffsetMask, BitCount, MaximumLength). BitCount is the smallest number of
    bits that can hold ``difference`` (ceiling of log2), at least 4; MaximumLength is
    ``(0xFFFF >> BitCount) + 3`` (note: a right shift, then + 3).
    """
    bit_count = max((difference - 1).bit_length(), 4)
    length_mask = 0xFFFF >> bit_count
    offset_mask = ~length_mask & 0xFFFF
    maximum_length = (0xFFFF >> bit_count) + 3
    return length_mask, offset_mask, bit_count, maximum_length


def _match_length(data: bytes, candidate: int, current: int, end: int) -> int:
    """Length of the common run of ``data[candidate:]`` and ``data[current:]`` up to ``end``.

    Same result as the byte-by-byte loop of [MS-OVBA] 2.4.1.3.19.4 (the runs may overlap:
    both are read from the uncompressed input), found by a binary search over slice
    comparisons so the work happens in C.
    """
    lo, hi = 0, end - current  # data[c:c+lo] == data[d:d+lo] holds; the answer is <= hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if data[candidate + lo : candidate + mid] == data[current + lo : current + mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _compress_chunk(data: bytes, chunk_start: int) -> bytes:
    """[MS-OVBA] 2.4.1.3.7 Compressing a DecompressedChunk (header included).

    Matching (2.4.1.3.19.4) is the spec's: the longest earlier run inside the chunk, the
    nearest one among equally long runs, used when at least 3 bytes long and cut to the
    CopyToken's MaximumLength. Candidates are found through an index of 3-byte prefixes
    instead of the spec's scan of every earlier position; the result is the same, since a
    run shorter than 3 bytes is never used.
    """
    end = min(chunk_start + _CHUNK, len(data))
    out = bytearray(b"\0\0")  # header placeholder (2.4.1.1.5)
    compressed_end = _MAX_COMPRESSED_CHUNK
    current = chunk_start
    positions: dict[bytes, list[int]] = {}  # 3-byte prefix -> earlier positions, ascending
    indexed = chunk_start  # positions < indexed are in ``positions``

    def index_up_to(pos: int) -> None:
        nonlocal indexed
        while indexed < pos:
            if indexed + 3 <= end:
                positions.setdefault(data[indexed : indexed + 3], []).append(indexed)
            indexed += 1

    # 2.4.1.3.7: token sequences while input remains and the chunk has room.
    while current < end and len(out) < compressed_end:
        # 2.4.1.3.8 Compressing a TokenSequence: a FlagByte, then up to 8 tokens.
        flag_index = len(out)
        out.append(0)
        flag = 0
        for bit in range(8):
            if not (current < end and len(out) < compressed_end):
                break
            # 2.4.1.3.9 Compressing a Token; 2.4.1.3.19.4 Matching.
            best_length, best_candidate = 0, -1
            if current + 3 <= end:
                index_up_to(current)
                limit = end - current  # no run can be longer than what is left
                for candidate in reversed(positions.get(data[current : current + 3], ())):
                    # Only a strictly longer run replaces the best one (nearest wins ties):
                    # it must agree at index best_length first.
                    if best_length and data[candidate + best_length] != data[current + best_length]:
                        continue
                    length = _match_length(data, candidate, current, end)
                    if length > best_length:
                        best_length, best_candidate = length, candidate
                        if length == limit:
                            break
            if best_length >= 3:
                _, _, bit_count, maximum_length = _copy_token_help(current - chunk_start)
                length = min(best_length, maximum_length)
                offset = current - best_candidate
                if len(out) + 1 < compressed_end:
                    # 2.4.1.3.19.3 Pack CopyToken
                    token = ((offset - 1) << (16 - bit_count)) | (length - 3)
                    out += struct.pack("<H", token)
                    flag |= 1 << bit
                    current += length
                else:
                    out.extend(b"\0" * (compressed_end - len(out)))  # no room: force a raw chunk
            else:
                if len(out) < compressed_end:
                    out.append(data[current])  # LiteralToken
                    current += 1
                else:
                    break
        out[flag_index] = flag

    if current < end or len(out) > _MAX_COMPRESSED_CHUNK:
        # 2.4.1.3.10 Compressing a RawChunk: the 4096 input bytes as they are, padded with
        # 0x00 up to 4096 when the input ends earlier (the spec's padding, kept so the
        # container is exactly what Office writes); CompressedChunkFlag 0, size 4095.
        raw = data[chunk_start:end]
        raw += b"\0" * (_CHUNK - len(raw))
        header = (_CHUNK + 2 - 3) | 0x3000
        return struct.pack("<H", header) + raw
    # 2.4.1.1.5 CompressedChunkHeader: CompressedChunkSize = chunk size - 3 (12 bits),
    # CompressedChunkSignature 0b011 (3 bits), CompressedChunkFlag 1 (1 bit).
    header = (len(out) - 3) | 0x3000 | 0x8000
    out[0:2] = struct.pack("<H", header)
    return bytes(out)


def compress(data: bytes) -> bytes:
    """Compress ``data`` into an [MS-OVBA] 2.4.1 CompressedContainer.

    The container is the SignatureByte 0x01 followed by one CompressedChunk for every
    4096 bytes of input (2.4.1.3.6). A chunk that would not get smaller is stored raw; the
    spec pads a raw *last* chunk with 0x00 up to 4096 bytes, so only for input whose last
    chunk is incompressible (random bytes, never VBA source) ``decompress(compress(x))``
    is ``x`` followed by those zero bytes. For all other input it is exactly ``x``.
    """
    data = bytes(data)
    out = bytearray(b"\x01")  # 2.4.1.1.1 SignatureByte
    for start in range(0, len(data), _CHUNK):
        out += _compress_chunk(data, start)
    return bytes(out)


def decompress(data: bytes) -> bytes:
    """Decompress an [MS-OVBA] 2.4.1 CompressedContainer (2.4.1.3.1).

    Raises ValueError when the signature byte or a chunk signature is wrong or a
    CopyToken points before the start of its chunk. A raw chunk cut short by the end of
    the container yields the bytes that are there.
    """
    data = bytes(data)
    if not data or data[0] != 0x01:
        raise ValueError("not an MS-OVBA CompressedContainer: the first byte must be 0x01")
    out = bytearray()
    pos = 1
    while pos < len(data):
        # 2.4.1.3.2 Decompressing a CompressedChunk
        if pos + 2 > len(data):
            raise ValueError(f"truncated CompressedChunkHeader at offset {pos}")
        (header,) = struct.unpack_from("<H", data, pos)
        size = (header & 0x0FFF) + 3
        if (header >> 12) & 0b111 != 0b011:
            raise ValueError(f"bad CompressedChunkSignature at offset {pos}")
        flag = header >> 15
        chunk_end = min(len(data), pos + size)
        pos += 2
        chunk_start = len(out)
        if not flag:
            # 2.4.1.3.3 Decompressing a RawChunk: 4096 bytes copied as they are.
            out += data[pos : pos + _CHUNK]
            pos += _CHUNK
            continue
        while pos < chunk_end:
            # 2.4.1.3.4 Decompressing a TokenSequence
            flags = data[pos]
            pos += 1
            for bit in range(8):
                if pos >= chunk_end:
                    break
                if not (flags >> bit) & 1:
                    out.append(data[pos])  # LiteralToken
                    pos += 1
                    continue
                # 2.4.1.3.19.2 Unpack CopyToken
                if pos + 2 > chunk_end:
                    raise ValueError(f"truncated CopyToken at offset {pos}")
                (token,) = struct.unpack_from("<H", data, pos)
                pos += 2
                length_mask, offset_mask, bit_count, _ = _copy_token_help(len(out) - chunk_start)
                length = (token & length_mask) + 3
                offset = ((token & offset_mask) >> (16 - bit_count)) + 1
                source = len(out) - offset
                if source < chunk_start:
                    raise ValueError(f"CopyToken at offset {pos - 2} points before its chunk")
                if offset >= length:
                    out += out[source : source + length]
                else:  # overlapping copy: byte by byte (2.4.1.3.11 Byte Copy)
                    for i in range(length):
                        out.append(out[source + i])
    return bytes(out)


# ======================================================================================
# [MS-OVBA] 2.4.3 Data Encryption (obfuscation of CMG, DPB and GC in the PROJECT stream)
# ======================================================================================


def _project_key(project_id: str) -> int:
    """ProjKey of 2.4.3.2: the byte sum of ProjectId.ProjectCLSID ("{...}"), modulo 256."""
    return sum(project_id.encode("ascii")) & 0xFF


def encrypt_data(project_id: str, data: bytes, seed: int = 0x00) -> bytes:
    """Obfuscate ``data`` as [MS-OVBA] 2.4.3.2 Encryption; returns the 2.4.3.1 structure.

    ``project_id`` is the project's "{GUID}" (with braces) of the ``ID=`` line. ``seed``
    is the Seed byte (any value; (seed & 6) / 2 ignored bytes follow the key, written as
    0x00 here). A fixed seed keeps the built file reproducible.
    """
    seed &= 0xFF
    version = 2
    proj_key = _project_key(project_id)
    version_enc = seed ^ version
    proj_key_enc = seed ^ proj_key
    out = bytearray([seed, version_enc, proj_key_enc])
    unencrypted_1, encrypted_1, encrypted_2 = proj_key, proj_key_enc, version_enc
    plain = bytes((seed & 6) // 2) + struct.pack("<I", len(data)) + bytes(data)
    for byte in plain:  # IgnoredEnc, DataLengthEnc, DataEnc: the same rolling XOR
        byte_enc = byte ^ ((encrypted_2 + unencrypted_1) & 0xFF)
        out.append(byte_enc)
        encrypted_2, encrypted_1, unencrypted_1 = encrypted_1, byte_enc, byte
    return bytes(out)


def decrypt_data(encrypted: bytes) -> tuple[int, bytes]:
    """Undo :func:`encrypt_data` ([MS-OVBA] 2.4.3.3 Decryption); returns (ProjKey, Data)."""
    seed, version_enc, proj_key_enc = encrypted[0], encrypted[1], encrypted[2]
    if seed ^ version_enc != 2:
        raise ValueError("encrypted data: version is not 2")
    proj_key = seed ^ proj_key_enc
    unencrypted_1, encrypted_1, encrypted_2 = proj_key, proj_key_enc, version_enc
    plain = bytearray()
    for byte_enc in encrypted[3:]:
        byte = byte_enc ^ ((encrypted_2 + unencrypted_1) & 0xFF)
        plain.append(byte)
        encrypted_2, encrypted_1, unencrypted_1 = encrypted_1, byte_enc, byte
    ignored = (seed & 6) // 2
    (length,) = struct.unpack_from("<I", plain, ignored)
    data = bytes(plain[ignored + 4 : ignored + 4 + length])
    if len(data) != length:
        raise ValueError("encrypted data: shorter than its DataLength")
    return proj_key, data


# ======================================================================================
# [MS-CFB] Compound File Binary writer (version 3, 512-byte sectors)
# ======================================================================================

_SECTOR = 512  # 2.2: sector size for major version 3 (SectorShift 9)
_MINI_SECTOR = 64  # 2.2: MiniSectorShift 6
_MINI_CUTOFF = 4096  # 2.2: MiniStreamCutoffSize; smaller streams live in the mini stream
_DIFSECT, _FATSECT, _ENDOFCHAIN, _FREESECT = 0xFFFFFFFC, 0xFFFFFFFD, 0xFFFFFFFE, 0xFFFFFFFF
_NOSTREAM = 0xFFFFFFFF  # 2.6.1
_HEADER_DIFAT = 109  # 2.2: the header holds the first 109 FAT sector locations


class _Entry:
    """One [MS-CFB] 2.6.1 directory entry under construction."""

    def __init__(self, name: str, kind: int, data: bytes | None = None):
        if len(name) > 31:
            raise ValueError(f"compound file names are at most 31 characters: {name!r}")
        self.name = name
        self.kind = kind  # 1 storage, 2 stream, 5 root storage
        self.data = data
        self.children: list[_Entry] = []
        self.index = -1
        self.left = self.right = self.child = _NOSTREAM
        self.start = _ENDOFCHAIN
        self.size = 0


def _cfb_sort_key(name: str) -> tuple[int, str]:
    """[MS-CFB] 2.6.4: siblings compare by name length first, then by upper-cased name."""
    return len(name), name.upper()


def _link_siblings(entries: list[_Entry]) -> int:
    """Make a balanced binary search tree of ``entries``; returns the root's index.

    [MS-CFB] 2.6.4 lists the constraints a directory tree MUST keep: the root black, no
    two consecutive red nodes, left sibling < right sibling (by :func:`_cfb_sort_key`).
    Every node is written black (color flag 1), which keeps all three; balancing keeps
    lookups short.
    """
    if not entries:
        return _NOSTREAM
    mid = len(entries) // 2
    node = entries[mid]
    node.left = _link_siblings(entries[:mid])
    node.right = _link_siblings(entries[mid + 1 :])
    return node.index


def build_compound_file(streams: dict[str, bytes]) -> bytes:
    """Write an [MS-CFB] compound file (version 3) holding ``streams``.

    Keys are paths with "/" between storage and stream names ("VBA/dir"); storages are
    created as needed. Streams under 4096 bytes go into the mini stream (2.5), others get
    their own chain of 512-byte sectors. Sector layout: FAT sectors, directory sectors,
    mini FAT sectors, the mini stream, then the large streams (each a contiguous chain).
    """
    root = _Entry("Root Entry", 5)
    entries = [root]
    storages = {"": root}
    for path in streams:
        parts = path.split("/")
        parent_path = ""
        for part in parts[:-1]:  # storages on the way
            here = f"{parent_path}/{part}" if parent_path else part
            if here not in storages:
                entry = _Entry(part, 1)
                storages[parent_path].children.append(entry)
                storages[here] = entry
                entries.append(entry)
            parent_path = here
        entry = _Entry(parts[-1], 2, bytes(streams[path]))
        storages[parent_path].children.append(entry)
        entries.append(entry)
    for i, entry in enumerate(entries):
        entry.index = i
    for entry in entries:  # 2.6.4 red-black tree of each storage's children
        names = [c.name.upper() for c in entry.children]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate names (case-insensitive) in storage {entry.name!r}")
        entry.child = _link_siblings(sorted(entry.children, key=lambda e: _cfb_sort_key(e.name)))

    # Mini stream (2.5): small streams, each padded to 64-byte mini sectors.
    mini_stream = bytearray()
    mini_fat: list[int] = []
    large = []
    for entry in entries:
        if entry.kind != 2:
            continue
        entry.size = len(entry.data)
        if entry.size == 0:
            entry.start = _ENDOFCHAIN
        elif entry.size < _MINI_CUTOFF:
            first = len(mini_fat)
            count = -(-entry.size // _MINI_SECTOR)
            mini_fat += list(range(first + 1, first + count)) + [_ENDOFCHAIN]
            entry.start = first
            mini_stream += entry.data + b"\0" * (count * _MINI_SECTOR - entry.size)
        else:
            large.append(entry)

    def sectors(nbytes: int) -> int:
        return -(-nbytes // _SECTOR)

    n_dir = sectors(len(entries) * 128)
    n_minifat = sectors(len(mini_fat) * 4)
    n_mini = sectors(len(mini_stream))
    n_large = [sectors(e.size) for e in large]
    n_data = n_dir + n_minifat + n_mini + sum(n_large)
    n_fat = 1
    while n_fat * (_SECTOR // 4) < n_fat + n_data:  # the FAT also maps its own sectors
        n_fat += 1
    if n_fat > _HEADER_DIFAT:
        raise ValueError("compound file too large for a header-only DIFAT (about 6.8 MB)")

    fat: list[int] = [_FATSECT] * n_fat
    next_sector = n_fat

    def chain(count: int) -> int:
        nonlocal next_sector
        if count == 0:
            return _ENDOFCHAIN
        first = next_sector
        fat.extend(range(first + 1, first + count))
        fat.append(_ENDOFCHAIN)
        next_sector += count
        return first

    dir_start = chain(n_dir)
    minifat_start = chain(n_minifat)
    root.start = chain(n_mini)
    root.size = len(mini_stream)
    for entry, count in zip(large, n_large):
        entry.start = chain(count)
    fat += [_FREESECT] * (n_fat * (_SECTOR // 4) - len(fat))

    # 2.2 Compound File Header
    header = bytearray()
    header += bytes.fromhex("D0CF11E0A1B11AE1")  # Header Signature
    header += bytes(16)  # Header CLSID
    header += struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6)  # minor, major, byte order, shifts
    header += bytes(6)  # Reserved
    header += struct.pack("<I", 0)  # Number of Directory Sectors (0 for version 3)
    header += struct.pack("<I", n_fat)  # Number of FAT Sectors
    header += struct.pack("<I", dir_start)  # First Directory Sector Location
    header += struct.pack("<I", 0)  # Transaction Signature Number
    header += struct.pack("<I", _MINI_CUTOFF)  # Mini Stream Cutoff Size
    header += struct.pack("<I", minifat_start)  # First Mini FAT Sector Location
    header += struct.pack("<I", n_minifat)  # Number of Mini FAT Sectors
    header += struct.pack("<I", _ENDOFCHAIN)  # First DIFAT Sector Location (none)
    header += struct.pack("<I", 0)  # Number of DIFAT Sectors
    difat = list(range(n_fat)) + [_FREESECT] * (_HEADER_DIFAT - n_fat)
    header += struct.pack(f"<{_HEADER_DIFAT}I", *difat)
    assert len(header) == _SECTOR

    # 2.6.1 Compound File Directory Entry (128 bytes each)
    directory = bytearray()
    for entry in entries:
        name = entry.name.encode("utf-16-le") + b"\0\0"
        directory += name + bytes(64 - len(name))
        directory += struct.pack("<HBB", len(name), entry.kind, 1)  # name length, type, black
        directory += struct.pack("<III", entry.left, entry.right, entry.child)
        directory += bytes(16)  # CLSID
        directory += struct.pack("<I", 0)  # State Bits
        directory += bytes(16)  # Creation Time, Modified Time (not recorded)
        directory += struct.pack("<IQ", entry.start, entry.size)
    empty = bytes(64) + struct.pack("<HBBIII", 0, 0, 0, _NOSTREAM, _NOSTREAM, _NOSTREAM) + bytes(48)
    while len(directory) % _SECTOR:  # unused entries (2.6.1: type 0, no siblings)
        directory += empty

    def padded(blob: bytes, fill: bytes = b"\0") -> bytes:
        return bytes(blob) + fill * ((-len(blob)) % _SECTOR // len(fill))

    body = bytearray(header)
    body += struct.pack(f"<{len(fat)}I", *fat)  # 2.3 FAT sectors
    body += directory
    if mini_fat:  # 2.4 Mini FAT sectors, unused entries FREESECT
        body += padded(struct.pack(f"<{len(mini_fat)}I", *mini_fat), struct.pack("<I", _FREESECT))
    body += padded(mini_stream)
    for entry in large:
        body += padded(entry.data)
    assert len(body) == _SECTOR * (1 + next_sector)
    return bytes(body)


# ======================================================================================
# [MS-OVBA] 2.3 the VBA project
# ======================================================================================

_CODEPAGE = 1252  # PROJECTCODEPAGE: sources are ASCII; cp1252 is what an en-US Excel writes
_ENCODING = "cp1252"
_LCID = 0x0409
_STDOLE_LIBID = (
    r"*\G{00020430-0000-0000-C000-000000000046}#2.0#0"
    r"#C:\Windows\System32\stdole2.tlb#OLE Automation"
)
_OFFICE_LIBID = (
    r"*\G{2DF8D04C-5BFA-101B-BDE5-00AA0044DE52}#2.0#0"
    r"#C:\Program Files\Common Files\Microsoft Shared\OFFICE16\MSO.DLL"
    r"#Microsoft Office 16.0 Object Library"
)

# Attributes an exported document module carries ([MS-OVBA] 2.3.4.3 module streams hold
# them as the first lines of the source; VB_Base names the host class: Excel's Workbook
# {00020819-...} for ThisWorkbook, Worksheet {00020820-...} for sheets).
_WORKBOOK_BASE = "0{00020819-0000-0000-C000-000000000046}"
_WORKSHEET_BASE = "0{00020820-0000-0000-C000-000000000046}"
_CLASS_ATTRIBUTES = (
    ("VB_GlobalNameSpace", "False"),
    ("VB_Creatable", "False"),
    ("VB_PredeclaredId", "{predeclared}"),
    ("VB_Exposed", "{exposed}"),
)


def _to_crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def _split_attributes(source: str) -> tuple[list[str], str]:
    """Leading ``Attribute ...`` lines of ``source`` and the code after them."""
    lines = _to_crlf(source).split("\r\n")
    n = 0
    while n < len(lines) and lines[n].startswith("Attribute "):
        n += 1
    return lines[:n], "\r\n".join(lines[n:])


def module_source(name: str, source: str, kind: str = "module") -> str:
    """The source text stored in a module stream, as in an exported module.

    ``kind`` is "module" (procedural, .bas), "document" (ThisWorkbook, Sheet1, ...) or
    "class" (.cls). Any leading ``Attribute`` lines of ``source`` are replaced by the ones
    this kind of module carries, the first being ``Attribute VB_Name = "<name>"``; line
    ends become CRLF and the text ends with one.
    """
    given, code = _split_attributes(source)
    for line in given:
        if line.startswith("Attribute VB_Name") and line.split("=", 1)[1].strip().strip('"') != name:
            raise ValueError(f"module {name!r}: its source says {line!r}")
    attributes = [f'Attribute VB_Name = "{name}"']
    if kind == "document":
        base = _WORKBOOK_BASE if name == "ThisWorkbook" else _WORKSHEET_BASE
        attributes.append(f'Attribute VB_Base = "{base}"')
        values = {"predeclared": "True", "exposed": "True"}
        attributes += [f"Attribute {k} = {v.format(**values)}" for k, v in _CLASS_ATTRIBUTES]
        attributes += ["Attribute VB_TemplateDerived = False", "Attribute VB_Customizable = True"]
    elif kind == "class":
        values = {"predeclared": "False", "exposed": "False"}
        attributes += [f"Attribute {k} = {v.format(**values)}" for k, v in _CLASS_ATTRIBUTES]
        # keep the class's own extra attributes (e.g. VB_Description) after the standard ones
        standard = {a.split("=")[0].strip() for a in attributes}
        attributes += [a for a in given if a.split("=")[0].strip() not in standard]
    elif kind != "module":
        raise ValueError(f"unknown module kind {kind!r}")
    code = code.strip("\r\n")
    text = "\r\n".join(attributes) + "\r\n" + (code + "\r\n" if code else "")
    text.encode(_ENCODING)  # fail early on characters the code page cannot hold
    return text


def _record(record_id: int, payload: bytes) -> bytes:
    """A dir-stream record: Id (2 bytes), Size (4 bytes), then Size bytes."""
    return struct.pack("<HI", record_id, len(payload)) + payload


def _mbcs_unicode(mbcs_id: int, unicode_id: int, text: str) -> bytes:
    """A record pair with an MBCS text and its UTF-16 twin under a reserved Id.

    Used by PROJECTDOCSTRING, PROJECTHELPFILEPATH, PROJECTCONSTANTS, REFERENCENAME,
    MODULESTREAMNAME and MODULEDOCSTRING (2.3.4.2): Id, SizeOf, MBCS, Reserved Id, SizeOf,
    UTF-16LE.
    """
    return _record(mbcs_id, text.encode(_ENCODING)) + _record(unicode_id, text.encode("utf-16-le"))


def _dir_stream(project_name: str, modules: list[tuple[str, str]], office_reference: bool) -> bytes:
    """The decompressed ``dir`` stream, [MS-OVBA] 2.3.4.2."""
    out = bytearray()
    # 2.3.4.2.1 PROJECTINFORMATION
    out += _record(0x0001, struct.pack("<I", 0x00000001))  # PROJECTSYSKIND: 32-bit Windows
    out += _record(0x0002, struct.pack("<I", _LCID))  # PROJECTLCID
    out += _record(0x0014, struct.pack("<I", _LCID))  # PROJECTLCIDINVOKE
    out += _record(0x0003, struct.pack("<H", _CODEPAGE))  # PROJECTCODEPAGE
    out += _record(0x0004, project_name.encode(_ENCODING))  # PROJECTNAME
    out += _mbcs_unicode(0x0005, 0x0040, "")  # PROJECTDOCSTRING
    out += _mbcs_unicode(0x0006, 0x003D, "")  # PROJECTHELPFILEPATH (HelpFile1, HelpFile2)
    out += _record(0x0007, struct.pack("<I", 0))  # PROJECTHELPCONTEXT
    out += _record(0x0008, struct.pack("<I", 0))  # PROJECTLIBFLAGS
    # 2.3.4.2.1.11 PROJECTVERSION: Id, Reserved 0x00000004, VersionMajor, VersionMinor
    out += struct.pack("<HIIH", 0x0009, 0x00000004, 1, 0)
    out += _mbcs_unicode(0x000C, 0x003C, "")  # PROJECTCONSTANTS

    # 2.3.4.2.2 PROJECTREFERENCES: REFERENCENAME + REFERENCEREGISTERED (2.3.4.2.2.5)
    references = [("stdole", _STDOLE_LIBID)]
    if office_reference:
        references.append(("Office", _OFFICE_LIBID))
    for name, libid in references:
        out += _mbcs_unicode(0x0016, 0x003E, name)  # REFERENCENAME
        libid_bytes = libid.encode(_ENCODING)
        body = struct.pack("<I", len(libid_bytes)) + libid_bytes + struct.pack("<IH", 0, 0)
        out += _record(0x000D, body)  # REFERENCEREGISTERED: SizeOfLibid, Libid, Reserved1, Reserved2

    # 2.3.4.2.3 PROJECTMODULES: Count, PROJECTCOOKIE, MODULE records
    out += _record(0x000F, struct.pack("<H", len(modules)))
    out += _record(0x0013, struct.pack("<H", 0xFFFF))  # PROJECTCOOKIE
    for name, kind in modules:
        # 2.3.4.2.3.2 MODULE
        out += _record(0x0019, name.encode(_ENCODING))  # MODULENAME
        out += _record(0x0047, name.encode("utf-16-le"))  # MODULENAMEUNICODE
        out += _mbcs_unicode(0x001A, 0x0032, name)  # MODULESTREAMNAME
        out += _mbcs_unicode(0x001C, 0x0048, "")  # MODULEDOCSTRING
        out += _record(0x0031, struct.pack("<I", 0))  # MODULEOFFSET: source starts at 0
        out += _record(0x001E, struct.pack("<I", 0))  # MODULEHELPCONTEXT
        out += _record(0x002C, struct.pack("<H", 0xFFFF))  # MODULECOOKIE
        # MODULETYPE: Id 0x0021 procedural, 0x0022 document/class; Reserved 0x00000000
        out += struct.pack("<HI", 0x0021 if kind == "module" else 0x0022, 0)
        out += struct.pack("<HI", 0x002B, 0)  # Terminator of the MODULE record
    out += struct.pack("<HI", 0x0010, 0)  # Terminator of the dir stream
    return bytes(out)


_NOT_PROTECTED = bytes(4)  # 2.3.1.15 ProjectProtectionState: no protection flag set
_NO_PASSWORD = b"\x00"  # 2.3.1.16 ProjectPassword: one 0x00 byte = no password
_VISIBLE = b"\xff"  # 2.3.1.17 ProjectVisibilityState: 0xFF = visible


def _project_stream(project_id: str, project_name: str, modules: list[tuple[str, str]]) -> bytes:
    """The ``PROJECT`` stream, [MS-OVBA] 2.3.1 (VBAPROJECTText, MBCS, CRLF lines)."""
    lines = [f'ID="{project_id}"']  # 2.3.1.2 ProjectId
    for name, kind in modules:  # 2.3.1.3 ProjectModules
        if kind == "document":
            lines.append(f"Document={name}/&H00000000")
        elif kind == "class":
            lines.append(f"Class={name}")
        else:
            lines.append(f"Module={name}")
    lines += [
        f'Name="{project_name}"',  # 2.3.1.9
        'HelpContextID="0"',  # 2.3.1.12
        'VersionCompatible32="393222000"',  # 2.3.1.14
        # 2.3.1.15-17: ProjectProtectionState 0 (not protected), ProjectPassword a single
        # 0x00 (no password), ProjectVisibilityState 0xFF (visible), obfuscated by 2.4.3.2.
        f'CMG="{encrypt_data(project_id, _NOT_PROTECTED, seed=0x1F).hex().upper()}"',
        f'DPB="{encrypt_data(project_id, _NO_PASSWORD, seed=0x23).hex().upper()}"',
        f'GC="{encrypt_data(project_id, _VISIBLE, seed=0x35).hex().upper()}"',
        "",
        "[Host Extender Info]",  # 2.3.1.18: the VBE host extender every Office project lists
        "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000",
        "",
        "[Workspace]",  # 2.3.1.19: editor window positions; all closed
    ]
    lines += [f"{name}=0, 0, 0, 0, C" for name, _ in modules]
    return ("\r\n".join(lines) + "\r\n").encode(_ENCODING)


def _projectwm_stream(modules: list[tuple[str, str]]) -> bytes:
    """The ``PROJECTwm`` stream, [MS-OVBA] 2.3.3: MBCS name, NUL, UTF-16 name, NUL NUL; 0x0000."""
    out = bytearray()
    for name, _ in modules:
        out += name.encode(_ENCODING) + b"\0" + name.encode("utf-16-le") + b"\0\0"
    return bytes(out + b"\0\0")


def build_vba_project(
    modules: dict[str, str],
    document_modules: dict[str, str] | None = None,
    project_name: str = "VBAProject",
    *,
    class_modules: dict[str, str] | None = None,
    office_reference: bool = False,
    project_id: str | None = None,
) -> bytes:
    """Build the bytes of a ``vbaProject.bin`` holding the given VBA source.

    ``modules`` maps procedural module names to their source (with or without the
    ``Attribute VB_Name`` line of an exported .bas: it is written as the module stream
    needs it). ``document_modules`` maps the workbook's document modules to their code;
    the names must be the workbook's and sheets' code names (XlsxWriter:
    ``workbook.set_vba_name("ThisWorkbook")``, ``worksheet.set_vba_name("Sheet1")``).
    Default: empty ``ThisWorkbook`` and ``Sheet1``. ``class_modules`` adds class modules.
    ``office_reference`` adds a reference to the Office 16 object library besides stdole.
    ``project_id`` is the ``ID=`` GUID ("{...}"); by default derived from the names so
    the same input gives the same bytes.

    The result has the streams ``PROJECT``, ``PROJECTwm``, ``VBA/_VBA_PROJECT`` (header
    only: no p-code, Office compiles from source), ``VBA/dir`` and one ``VBA/<name>`` per
    module holding only its compressed source.
    """
    if document_modules is None:
        document_modules = {"ThisWorkbook": "", "Sheet1": ""}
    all_modules: list[tuple[str, str, str]] = []
    for kind, group in (("document", document_modules), ("module", modules), ("class", class_modules or {})):
        for name, source in group.items():
            all_modules.append((name, kind, module_source(name, source, kind)))
    names = [name.upper() for name, _, _ in all_modules]
    if len(set(names)) != len(names):
        raise ValueError("module names must be unique (case-insensitive)")
    for name, _, _ in all_modules:
        if not name or not name[0].isalpha() or not all(c.isalnum() or c == "_" for c in name) or len(name) > 31:
            raise ValueError(f"not a valid VBA module name: {name!r}")
    kinds = [(name, kind) for name, kind, _ in all_modules]
    if project_id is None:
        seed = project_name + "|" + "|".join(f"{k}:{n}" for n, k in kinds)
        project_id = "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "xlplan-vba:" + seed)).upper() + "}"

    streams: dict[str, bytes] = {
        "PROJECT": _project_stream(project_id, project_name, kinds),
        "PROJECTwm": _projectwm_stream(kinds),
        # 2.3.4.1 _VBA_PROJECT: Reserved1 0x61CC, Version 0xFFFF (so any Office ignores
        # the performance cache), Reserved2 0x00, Reserved3 0x0001 (as in the spec's
        # example 3.1.1; undefined and ignored), no PerformanceCache.
        "VBA/_VBA_PROJECT": struct.pack("<HHBH", 0x61CC, 0xFFFF, 0x00, 0x0001),
        "VBA/dir": compress(_dir_stream(project_name, kinds, office_reference)),
    }
    for name, _, source in all_modules:
        # 2.3.4.3 Module Stream: PerformanceCache (MODULEOFFSET = 0 bytes) + CompressedSourceCode
        streams[f"VBA/{name}"] = compress(source.encode(_ENCODING))
    return build_compound_file(streams)


def read_bas(path: str | Path) -> tuple[str, str]:
    """Read an exported VBA module file (.bas: ASCII/cp1252 text, CRLF lines).

    Returns ``(name, source)``: the name from its ``Attribute VB_Name = "..."`` line and
    the whole text (attribute lines included, CRLF line ends). Raises ValueError when the
    file has no ``Attribute VB_Name`` line among its leading attribute lines.
    """
    text = Path(path).read_bytes().decode(_ENCODING)
    attributes, _ = _split_attributes(text)
    for line in attributes:
        if line.startswith("Attribute VB_Name"):
            name = line.split("=", 1)[1].strip().strip('"')
            return name, _to_crlf(text)
    raise ValueError(f"{path}: no 'Attribute VB_Name = \"...\"' line at the top")
