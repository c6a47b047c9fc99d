"""Files that are no text the readers can read: a spreadsheet's workbook, another office document, or compressed
data, told by their first bytes (which the text readers met as a NUL byte, naming neither)."""

from __future__ import annotations

import re

# the first bytes of compressed files and of an OLE2 file (xls, doc, msg)
_COMPRESSED = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "Zstandard", b"PK\x03\x04": "zip", b"\xfd7zXZ\x00": "xz"}
_OLE2, _ZIP = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"PK\x03\x04"
_SAVE_AS_CSV = "not text: save its sheet as CSV (UTF-8) and read that"


def packed_refusal(head: bytes) -> str | None:
    """Why a file whose first bytes are ``head`` is not read: a spreadsheet's workbook (xlsx and ods are zip files,
    told by their parts' names, ``xl/...``, or their mimetype: "decompress it" was no help, helper-187), another
    office document (docx, pptx, odt: a zip with ``[Content_Types].xml`` or an OpenDocument mimetype, helper-195),
    an OLE2 file (xls, or Word's doc), or compressed data (gzip, Zstandard, zip, xz); None."""
    if head.startswith(_OLE2):
        return f"an OLE2 file (an Excel 97-2003 workbook, .xls, or another office document: .doc), {_SAVE_AS_CSV}"
    if head.startswith(_ZIP):
        names = _zip_entry_names(head)
        if any(name.startswith(b"xl/") for name in names) or b"opendocument.spreadsheet" in head:
            return f"a spreadsheet's workbook (Excel, LibreOffice), {_SAVE_AS_CSV}"
        if b"[Content_Types].xml" in names or b"application/vnd.oasis.opendocument" in head:
            return "an office document (Word, PowerPoint, LibreOffice), not text: export its events as CSV (UTF-8)"
    packed = next((name for magic, name in _COMPRESSED.items() if head.startswith(magic)), None)
    return f"a {packed} file: compressed files are not read; decompress it first" if packed else None


def _zip_entry_names(head: bytes) -> list[bytes]:
    """The names of the zip file's entries whose local headers (30 bytes, the name's length at byte 26) lie in its
    first bytes ``head`` (openpyxl, as pandas writes xlsx, puts docProps/app.xml first: helper-189)."""
    return [head[at + 30:at + 30 + int.from_bytes(head[at + 26:at + 28], "little")]
            for at in (found.start() for found in re.finditer(re.escape(_ZIP), head)) if at + 30 <= len(head)]
