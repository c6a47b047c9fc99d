"""Files that are no text the readers can read: a spreadsheet's workbook, or compressed data, told by their first
bytes (which the text readers met as a NUL byte, naming neither)."""

from __future__ import annotations

# the first bytes of compressed files and of an OLE2 file (xls); names of a workbook's parts in its zip file (openpyxl,
# as pandas writes xlsx, puts docProps/app.xml first: helper-189)
_COMPRESSED = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "Zstandard", b"PK\x03\x04": "zip", b"\xfd7zXZ\x00": "xz"}
_OLE2, _WORKBOOK = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", (b"[Content_Types].xml", b"xl/", b"opendocument.spreadsheet")


def packed_refusal(head: bytes) -> str | None:
    """Why a file whose first bytes are ``head`` is not read: a spreadsheet's workbook (xlsx and ods are zip files,
    xls an OLE2 one: "decompress it" was no help, helper-187; ``head`` holds the names of its first parts), or
    compressed data (gzip, Zstandard, zip, xz); None."""
    if head.startswith(_OLE2) or head.startswith(b"PK\x03\x04") and any(part in head for part in _WORKBOOK):
        return "a spreadsheet's workbook (Excel, LibreOffice), not text: save its sheet as CSV (UTF-8) and read that"
    packed = next((name for magic, name in _COMPRESSED.items() if head.startswith(magic)), None)
    return f"a {packed} file: compressed files are not read; decompress it first" if packed else None
