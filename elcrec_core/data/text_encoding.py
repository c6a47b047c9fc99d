"""Text files in an encoding other than UTF-8: a UTF-8 copy for DuckDB's readers (same lines, same line numbers),
and the refusal of a UTF-8 file that another encoding would garble."""

from __future__ import annotations

import codecs
import itertools
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from elcrec_core.data.files import CHUNK_BYTES, SourceReadError
from elcrec_core.data.header_names import NotUtf8Header

_NON_ASCII = re.compile(rb"[\x80-\xff]")
_LATIN_CODES = {"iso8859-1", "iso8859-15", "cp1252"}  # where a UTF-8 letter tells UTF-8 lines among the others
_NOT_CONTINUATION = bytes(b for b in range(256) if not 0x80 <= b <= 0xBF)  # what translate deletes
_TAIL_BYTES = 1 << 16  # of a line cut by the chunks, what the next chunk's search sees before it
EVENTS_ENCODING = "the source setting encoding, elcrec --encoding"  # where the events' encoding is given


def encoding_problem(name: str, what: str = "encoding") -> str | None:
    """Why ``name`` is no encoding that text files can be read in (``unknown encoding 'x'``; ``'rot13' is no text
    encoding``: a codec of Python's that encodes bytes or text as themselves, which every read then failed on with a
    traceback, helper-202), with ``what`` naming the setting; None where it is one."""
    try:
        codecs.lookup(name)
    except LookupError:
        return f"unknown {what} {name!r}"
    try:
        (b"\0" * 4).decode(name)  # whole in UTF-16 and UTF-32 too
    except LookupError:  # Python's "is not a text encoding"
        return f"{name!r} is no text {what} (a codec of bytes to bytes or text to text)"
    except UnicodeError:  # one that decodes no text file: undefined, punycode (helper-206)
        return f"{name!r} is no {what} of text files (it decodes no bytes of one)"
    return None


def is_utf8(encoding: str) -> bool:
    """Whether ``encoding`` names UTF-8 (with or without a byte order mark), by any of its Python names."""
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


@contextmanager
def as_utf8(path: Path, encoding: str, setting: str = EVENTS_ENCODING) -> Iterator[Path]:
    """``path`` itself for UTF-8, else a UTF-8 copy in a temporary folder, converted chunk by chunk (same lines,
    so the same line numbers); an error names ``path``. Raises :class:`SourceReadError` for a byte that is not
    ``encoding`` text, and for a file that is UTF-8 text with characters beyond ASCII, which ``encoding`` would
    read as other characters (``café`` as ``cafÃ©`` in latin-1: one user as two, where the other days' files are
    in ``encoding``): such a file is not in ``encoding``, however many of its bytes that can decode; in latin-1,
    iso8859-15 or cp1252, where it holds a UTF-8 letter (:func:`_first_utf8_character`) or a byte order mark (a
    cp1252 NESCAFÉ™ is valid UTF-8 too), and also where some lines are UTF-8 text and others not (two exports
    joined), naming the first such line. Raises it too for a
    text that holds a C1 control character (U+0080-U+009F), which no text holds: Windows' cp1252 text read as latin-1
    (its ’ as U+0092), naming the line and what cp1252 reads there. ``setting`` names the setting of ``encoding``
    in the messages (item metadata's is its own: helper-187)."""
    if is_utf8(encoding):
        try:
            yield path
        except NotUtf8Header as err:
            raise SourceReadError(path, f"{err.cause} ({setting})") from None
        return
    decoder, utf8 = codecs.getincrementaldecoder(encoding)(), codecs.getincrementaldecoder("utf-8")()
    offset, lines, is_utf8_text, first = 0, 0, True, None  # first: the number of the first line beyond ASCII
    control_bytes = _c1_control_bytes(encoding)
    other_bytes = bytes(b for b in range(256) if b not in control_bytes)  # what translate deletes
    control: tuple[int, bytes] | None = None  # the line of the first byte read as a C1 control character, the byte
    latin, tail, utf8_line = codecs.lookup(encoding).name in _LATIN_CODES, b"", None  # the first line of UTF-8 text
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        with path.open("rb") as src, copy.open("w", encoding="utf-8", newline="") as out:
            while True:
                chunk = src.read(CHUNK_BYTES)
                try:
                    text = decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as err:
                    utf8_hint = ("; the file reads as UTF-8 text: give it encoding utf-8" if is_utf8_text and
                                 _decodes(utf8, chunk) else "")  # cp1252 lacks 5 bytes that UTF-8's Á, Í, ... hold
                    line = lines + chunk.count(b"\n", 0, err.start) + 1
                    raise SourceReadError(path, f"byte {offset + err.start} (line {line}) is not {encoding} text"
                                                f"{utf8_hint} ({setting})") from None
                out.write(text)
                high = chunk.translate(None, _NOT_CONTINUATION) if not chunk.isascii() else b""  # 0x80-0xBF
                if control is None and (found := high.translate(None, other_bytes)):  # C1 bytes are among them
                    control = lines + chunk.count(b"\n", 0, chunk.index(found[:1])) + 1, found[:1]  # the first
                is_utf8_text = is_utf8_text and _decodes(utf8, chunk)
                if first is None and not chunk.isascii():
                    first = lines + chunk.count(b"\n", 0, _NON_ASCII.search(chunk).start()) + 1
                if latin and utf8_line is None and high and (  # every UTF-8 character beyond ASCII holds such bytes
                        (found := _first_utf8_character(joined := tail + chunk)) is not None):  # tail: the line cut
                    utf8_line = lines + joined.count(b"\n", 0, found) + 1
                if latin:  # the last line's start, for the next chunk (a longer line: its last bytes)
                    cut = chunk.rfind(b"\n")
                    tail = chunk[cut + 1:] if cut >= 0 else (tail + chunk)[-_TAIL_BYTES:]
                if not chunk:
                    break
                offset, lines = offset + len(chunk), lines + chunk.count(b"\n")
        if latin and first == 1 and _line(path, 1).startswith(codecs.BOM_UTF8):  # a byte order mark says UTF-8
            utf8_line = 1
        # in a Latin code, a UTF-8 letter says it (a cp1252 file whose É™ alone pairs as UTF-8 is no UTF-8 text)
        if is_utf8_text and (shown := utf8_line if latin else first) is not None:
            utf8, read = _both_readings(path, shown, encoding)
            raise SourceReadError(path, f"it is UTF-8 text (line {shown}: {utf8}), which encoding {encoding} would "
                                        f"read as {read}: give it encoding utf-8 ({setting})")
        if utf8_line is not None and not is_utf8_text:
            utf8, read = _both_readings(path, utf8_line, encoding)
            raise SourceReadError(path, f"line {utf8_line} is UTF-8 text ({utf8}), which encoding {encoding} would "
                                        f"read as {read}, but the file is not UTF-8 as a whole: it mixes two "
                                        f"encodings (two exports joined?); convert it to one (its UTF-8 lines to "
                                        f"{encoding}, or the rest to UTF-8 and give encoding utf-8) and load it again")
        if control is not None:
            raise SourceReadError(path, _control_message(path, encoding, *control, setting))
        try:
            yield copy
        except SourceReadError as err:  # name the file, not its copy
            raise SourceReadError(path, err.cause) from None


def _first_utf8_character(data: bytes) -> int | None:
    """The offset in ``data`` of the first UTF-8 letter of Latin-1 Supplement or Latin Extended-A (U+00C0-U+017F:
    é as the bytes C3 A9, which latin-1 reads Ã©; ł, ő, ...) on a line that is UTF-8 text as a whole, or None. In
    latin-1 or cp1252 text those bytes are Ã, Ä or Å before a sign (©, ’, ™, «), all but never written, and such a
    line is rarely UTF-8 as a whole; other pairs are common there (É™, ß“, à before a no-break space and », which
    are UTF-8 sequences too). numpy finds the pairs (a regular expression over every chunk made the conversion 15x
    slower); the caller searches only data with bytes 0x80-0xBF, which every such letter holds."""
    codes = np.frombuffer(data, np.uint8)
    pairs = np.flatnonzero((codes[:-1] >= 0xC3) & (codes[:-1] <= 0xC5) & ((codes[1:] & 0xC0) == 0x80))
    for at in map(int, pairs):
        start, end = data.rfind(b"\n", 0, at) + 1, data.find(b"\n", at)
        try:
            line = data[start:end if end >= 0 else len(data)].decode("utf-8")
        except UnicodeDecodeError:
            continue
        if line[len(data[start:at].decode("utf-8"))].isalpha():  # not × or ÷
            return at
    return None


def _c1_control_bytes(encoding: str) -> bytes:
    """The bytes that ``encoding``, a code of one byte a character, reads as a C1 control character (U+0080-U+009F,
    which no text holds): latin-1's 0x80-0x9F; none for cp1252 and for a code of several bytes a character
    (shift_jis: its bytes 0x80-0x9F begin two-byte characters)."""
    every = bytes(range(256)).decode(encoding, errors="replace")
    return bytes(b for b in range(0x80, 0xA0) if len(every) == 256 and "\x80" <= every[b] <= "\x9f")


# the Windows code page of each ISO 8859 code that reads its bytes 0x80-0x9F as C1 control characters
_WINDOWS_CODE = {"iso8859-1": "cp1252", "iso8859-15": "cp1252", "iso8859-2": "cp1250", "iso8859-5": "cp1251",
                 "iso8859-7": "cp1253", "iso8859-9": "cp1254", "iso8859-8": "cp1255", "iso8859-6": "cp1256",
                 "iso8859-13": "cp1257", "iso8859-4": "cp1257"}


def _control_message(path: Path, encoding: str, line: int, byte: bytes, setting: str) -> str:
    """Why a text whose ``byte`` on ``line`` ``encoding`` reads as a C1 control character is refused, with what the
    Windows code page of ``encoding``'s script (latin-1: cp1252) reads there, if it can."""
    said = (f"line {line} holds U+{ord(byte.decode(encoding)):04X}, a control character that no text holds, as "
            f"{encoding} reads the file")
    windows = _WINDOWS_CODE.get(codecs.lookup(encoding).name)
    try:
        text = _line(path, line).decode(windows) if windows else None
    except UnicodeError:
        text = None
    if text is None:
        return f"{said}: is it in another encoding? ({setting})"
    return (f"{said}: is it Windows text ({windows}), where byte 0x{byte.hex().upper()} is {byte.decode(windows)!r} "
            f"(line {line}: {text!r})? Give it encoding {windows} ({setting})")


def _both_readings(path: Path, number: int, encoding: str) -> tuple[str, str]:
    """Line ``number`` of ``path`` read as UTF-8 and as ``encoding`` reads it, each quoted (``repr``)."""
    text = _line(path, number)
    return repr(text.decode("utf-8", "replace")), repr(text.decode(encoding, "replace"))


def _line(path: Path, number: int) -> bytes:
    """The first 200 bytes of line ``number`` (1-based) of ``path``, without its line end."""
    with path.open("rb") as lines_of:
        return next(itertools.islice(lines_of, number - 1, None)).rstrip(b"\r\n")[:200]


def _decodes(decoder: codecs.IncrementalDecoder, chunk: bytes) -> bool:
    """Whether ``chunk`` continues the text that ``decoder`` (strict) has read so far; an empty chunk ends it.
    ASCII after a whole character is UTF-8: not decoded (3x faster for a file of ASCII alone)."""
    if chunk.isascii() and not decoder.getstate()[0]:
        return True
    try:
        decoder.decode(chunk, final=not chunk)
    except UnicodeDecodeError:
        return False
    return True
