"""A time of a pattern's form with a field that no calendar or clock has (month 13, hour 25, February 30th), which
strptime refuses: the words of a bad time's detail that name each such field with its value, in place of a hint
that the time is of another form (helper-275's trial: ``2026-13-45 25:00`` was told to add its ISO pattern, and
``02/30/2026 01:30 PM`` was 'not of timestamp_format' although it has exactly its form)."""

from __future__ import annotations

import re

# the strptime fields of digits or names, each as a regex group; the others' text as a regex without a group
_GROUPS = {"Y": "([0-9]{4})", "y": "([0-9]{2})", "m": "([0-9]{1,2})", "d": "([0-9]{1,2})", "H": "([0-9]{1,2})",
           "I": "([0-9]{1,2})", "M": "([0-9]{1,2})", "S": "([0-9]{1,2})", "j": "([0-9]{1,3})", "b": "([A-Za-z]+)",
           "B": "([A-Za-z]+)"}
_TEXTS = {"p": "[AaPp][Mm]", "a": "[A-Za-z]+", "A": "[A-Za-z]+", "f": "[0-9]+", "z": "([+-][0-9]{2}:?[0-9]{2}|Z)",
          "Z": "[^ ]+", "%": "%"}
# an ISO 8601 time (a date alone, minutes, seconds, a fraction; an offset or Z), its fields Y m d H M S
_ISO = (r"^([0-9]{4})-([0-9]{2})-([0-9]{2})([Tt ]([0-9]{2}):([0-9]{2})(:([0-9]{2})([.,][0-9]+)?)?)?"
        r"( ?([+-][0-9]{2}(:?[0-9]{2})?|[Zz]))?$", {"Y": 1, "m": 2, "d": 3, "H": 5, "M": 6, "S": 8})
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def impossible_sql(pattern: str | None) -> str:
    """SQL: the fields of a time ``t_raw`` of the form of strptime ``pattern`` (None: of ISO 8601's form) that no
    calendar or clock has, each named with its value, and ``does not exist`` (``day 30 of February 2026 does not
    exist``; ``month 13, day 45 and hour 25 do not exist``; ``hour 13 of a 12-hour clock (%I)``, ``minute 61``,
    ``year 0``, ``day 366 of the year 2026``); NULL where it is of another form, every field exists, or the pattern
    has a field this cannot tell (``%U``, ``%s``). A month above 12 of a date of a locale (a pattern that starts
    with its day or month) that exists with its day and month swapped (13/02/2026 under ``%m/%d/%Y``) is NULL too: a
    date of the other order, which the locale hint names."""
    regex, places = _ISO if pattern is None else _form(pattern) or ("", {})
    if not places:
        return "CAST(NULL AS VARCHAR)"
    field = {name: f"TRY_CAST(regexp_extract(t_raw, '{regex}', {place}) AS INTEGER)" for name, place in places.items()
             if name not in "bB"}
    if "b" in places or "B" in places:  # a month's English name (another language's: no month, not told)
        name = f"lower(left(regexp_extract(t_raw, '{regex}', {places.get('b') or places['B']}), 3))"
        field["m"] = "CASE " + " ".join(f"WHEN {name} = '{month[:3].lower()}' THEN {n}"
                                        for n, month in enumerate(_MONTHS, 1)) + " END"
    year = field.get("Y") or (f"(CASE WHEN {field['y']} < 69 THEN 2000 ELSE 1900 END + {field['y']})" if "y" in field
                              else "2000")  # no year: a leap year's, where February 29th exists
    of_year = f" || ' ' || {year}" if "Y" in field or "y" in field else ""
    leap = f"CAST({year} % 4 = 0 AND ({year} % 100 <> 0 OR {year} % 400 = 0) AS INTEGER)"

    def days(month: str) -> str:  # SQL: the days of ``month`` (1-12) of the year
        return f"CASE {month} WHEN 2 THEN 28 + {leap} WHEN 4 THEN 30 WHEN 6 THEN 30 WHEN 9 THEN 30 WHEN 11 THEN 30 " \
               "ELSE 31 END"
    f = field.get
    parts = [("Y", f"{f('Y')} = 0", "'year 0'"), ("m", f"{f('m')} NOT BETWEEN 1 AND 12", f"'month ' || {f('m')}"),
             ("d", f"{f('d')} NOT BETWEEN 1 AND 31", f"'day ' || {f('d')}"),
             ("md", f"{f('m')} BETWEEN 1 AND 12 AND {f('d')} > {days(f('m'))}",
              f"'day ' || {f('d')} || ' of ' || {list(_MONTHS)}[{f('m')}]{of_year}"),
             ("j", f"{f('j')} NOT BETWEEN 1 AND 365 + {leap}", f"'day ' || {f('j')} || ' of the year'{of_year}"),
             ("H", f"{f('H')} > 23", f"'hour ' || {f('H')}"),
             ("I", f"{f('I')} NOT BETWEEN 1 AND 12", f"'hour ' || {f('I')} || ' of a 12-hour clock (%I)'"),
             ("M", f"{f('M')} > 59", f"'minute ' || {f('M')}"), ("S", f"{f('S')} > 59", f"'second ' || {f('S')}")]
    named = "concat_ws(', ', " + ", ".join(f"CASE WHEN {when} THEN {said} END" for needs, when, said in parts
                                           if all(name in field for name in needs)) + ")"
    swapped = (f"{f('m')} > 12 AND {f('d')} BETWEEN 1 AND 12 AND {f('m')} <= {days(f('d'))}"
               if "d" in field and "m" in places and re.match("%-?[dm]", pattern or "") else "FALSE")
    return (f"CASE WHEN regexp_matches(t_raw, '{regex}') AND NOT coalesce({swapped}, FALSE) AND {named} <> '' THEN "
            rf"regexp_replace({named}, ', ([^,]*)$', ' and \1') || CASE WHEN contains({named}, ', ') THEN ' do' "
            "ELSE ' does' END || ' not exist' END")


def impossible_detail(patterns: tuple[str, ...], otherwise: str) -> str:
    """SQL: a detail's end for a time ``t_raw`` that none of ``patterns`` (timestamp_format's) read: where it is of
    the form of one of them (the first) with a field that does not exist (:func:`impossible_sql`), that pattern and
    the field (`` (of timestamp_format "%m/%d/%Y %I:%M %p", but its day 30 of February 2026 does not exist)``; of a
    list: ``of timestamp_format's pattern "%Y-%m-%d"``), with no hint of another form; else ``otherwise`` (SQL)."""
    named = "timestamp_format " if len(patterns) == 1 else "timestamp_format''s pattern "
    whens = " ".join(f"WHEN ({impossible_sql(pattern)}) IS NOT NULL THEN ' (of {named}\"{_quoted(pattern)}\", "
                     f"but its ' || ({impossible_sql(pattern)}) || ')'" for pattern in patterns)
    return f"CASE {whens} ELSE {otherwise} END"


def _quoted(text: str) -> str:
    """``text`` for an SQL string literal (each quote doubled)."""
    return text.replace("'", "''")

def _form(pattern: str) -> tuple[str, dict[str, int]] | None:
    """The regex (RE2, quoted for SQL) of the texts of strptime ``pattern``'s form and the place of each field of
    :data:`_GROUPS` among its groups (the first of a field given twice); None where it has another field."""
    regex, places, groups = "^", {}, 0
    for token in re.findall("%-?.|[^%]+", pattern):
        if token[0] != "%":
            regex += _quoted("".join(c if c.isalnum() or c == " " else "\\" + c for c in token))
        elif token[-1] in _GROUPS:
            groups += 1
            places.setdefault(token[-1], groups)
            regex += _GROUPS[token[-1]]
        elif token[-1] in _TEXTS:
            groups += token[-1] == "z"
            regex += _TEXTS[token[-1]]
        else:
            return None
    return regex + "$", places
