"""The known setting that a misspelt one may mean (``time_zone``: ``timezone``), for the errors of a settings file
of unknown settings: the source settings in the pipeline and on the command line, the library's settings."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Sequence


def did_you_mean(unknown: Sequence[str], known: Iterable[str], not_for: Collection[str] = ()) -> str:
    """`` (did you mean 'timezone'?)``: for each name of ``unknown`` but those of ``not_for`` (told apart
    otherwise), its closest name among ``known`` (:func:`difflib.get_close_matches`), as ``'timezone' for
    'time_zone'`` where ``unknown`` has several names; an empty string where none has a close one. Raises nothing."""
    names = sorted(known)
    close = {name: match[0] for name in unknown
             if name not in not_for and (match := difflib.get_close_matches(name, names, n=1))}
    if not close:
        return ""
    if len(unknown) == 1:
        return f" (did you mean {close[unknown[0]]!r}?)"
    return f" (did you mean {', '.join(f'{meant!r} for {name!r}' for name, meant in close.items())}?)"
