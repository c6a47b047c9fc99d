"""A header line again inside delimited text, as where daily files were joined with their headers (``cat day1.csv
day2.csv``): the SQL with which :func:`elcrec_core.data.duckdb_reading.read_delimited` marks such a record
``repeated_header`` (a rejected row that names the header, not an event of user ``user_id``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from elcrec_core.data.event_normalisation import sql_text
from elcrec_core.data.warehouse import quote_identifier

# around a name: spaces, tabs, the CR of a CR LF line end, and the byte order mark that a second file's header keeps
# where files were joined (an Excel "CSV UTF-8" export starts with one; only the first file's is the file's)
_WHITESPACE = "' ' || chr(9) || chr(13) || chr(65279)"


def repeated_header_sql(wanted: Mapping[str, str | None], columns: Sequence[str],
                        headers: Sequence[Sequence[str]]) -> str:
    """SQL for the ``error`` and ``detail`` columns of a record of delimited text: ``'repeated_header'`` and the
    names where each ``wanted`` column (alias -> its name in ``columns``, the file's columns) holds that column's
    name in one of ``headers`` (each a name per column: the names given, the file's own header that they replace),
    white space around it aside; NULL and NULL otherwise, or with no ``headers`` (a file without a header whose
    columns nobody named). The other columns are not compared: a line may hold anything there."""
    picked = [column for column in wanted.values() if column is not None]
    if not headers:
        return "NULL::VARCHAR AS error, NULL::VARCHAR AS detail"
    error, detail = [], []
    for names in headers:
        texts = [names[columns.index(column)] for column in picked]
        same = " AND ".join(f"trim({quote_identifier(column)}, {_WHITESPACE}) = {sql_text(text)}"
                            for column, text in zip(picked, texts))
        error.append(f"WHEN {same} THEN 'repeated_header'")
        said = f"the column names again ({', '.join(texts)}): a header line inside the data, as where files were " \
               "joined with their headers"
        detail.append(f"WHEN {same} THEN {sql_text(said)}")
    return f"CASE {' '.join(error)} END AS error, CASE {' '.join(detail)} END AS detail"
