"""How long a text file in another encoding takes to become the UTF-8 copy that DuckDB reads
(:func:`elcrec_core.data.text_encoding.as_utf8`, which also tells a UTF-8 file that the encoding would garble, and
a text with C1 control characters: Windows text read as latin-1),
against the conversion alone as it was before 2026-12-04, in the same run, on a latin-1 CSV of about 100 MB
whose ids hold accented letters, one whose ids also hold latin-1's signs (° £ ½ © ®: bytes 0xA0-0xBF, which
UTF-8 characters hold too, so every chunk is searched for one), and one of ASCII alone (every chunk is also decoded
as UTF-8 and searched for a byte beyond ASCII).

    .venv/bin/python benchmarks/transcoding.py [--mb 100]

Prints the best of 3 of each, in seconds and MB/s.
"""

from __future__ import annotations

import argparse
import codecs
import tempfile
import time
from pathlib import Path

from elcrec_core.data.files import CHUNK_BYTES
from elcrec_core.data.text_encoding import as_utf8
from elcrec_core.train.device import cpu_model


def convert_only(path: Path, encoding: str, copy: Path) -> None:
    """The conversion before 2026-12-04: decode chunk by chunk, write UTF-8."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with path.open("rb") as src, copy.open("w", encoding="utf-8", newline="") as out:
        while chunk := src.read(CHUNK_BYTES):
            out.write(decoder.decode(chunk))
        out.write(decoder.decode(b"", final=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(f"{cpu_model()}; latin-1 CSVs of {args.mb} MB; best of 3")
        for kind, text in (("accented", "José Müller,café crème,1772366400\n"),
                           ("symbols", "José Müller,crème à 20°C £5 ½ © ®,1772366400\n"),
                           ("ASCII", "Jose Muller,cafe creme,1772366400\n")):
            path = Path(folder) / "events.csv"
            line = text.encode("latin-1")
            with path.open("wb") as out:
                out.write(b"user_id,item_id,timestamp\n")
                out.write(line * (args.mb * 2**20 // len(line)))
            size = path.stat().st_size / 2**20
            for name in ("convert only (before)", "as_utf8 (now)"):
                best = float("inf")
                for _ in range(3):
                    start = time.perf_counter()
                    if name.startswith("convert"):
                        convert_only(path, "latin-1", Path(folder) / "copy.csv")
                    else:
                        with as_utf8(path, "latin-1"):
                            pass
                    best = min(best, time.perf_counter() - start)
                print(f"{kind:<9} {name:<22} {best:6.2f} s  {size / best:6.0f} MB/s")


if __name__ == "__main__":
    main()
