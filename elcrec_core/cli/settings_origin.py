"""Where the command line's data options came from: typed as options, or from a ``--source`` file's settings; and
the advice that names a fix in the user's own words (``give --timestamp-format X`` where options read the data,
``set timestamp_format: X in /abs/team/events.yaml`` where the file did: helper-273, under ``--source`` the advice
named options that the user had not typed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# the source setting of each data option (the names of the pipeline's docs: elcrec_pipeline.config.SourceSettings)
_OPTION = {"format": "--format", "user_column": "--user-column", "item_column": "--item-column",
           "timestamp_column": "--timestamp-column", "timestamp_format": "--timestamp-format",
           "timezone": "--timezone", "delimiter": "--delimiter", "names": "--names", "encoding": "--encoding",
           "rating_column": "--rating-column", "event_type_column": "--event-type-column",
           "min_timestamp": "--min-timestamp", "max_timestamp": "--max-timestamp", "min_rating": "--min-rating",
           "max_rating": "--max-rating", "null_ids": "--null-ids"}
Fix = tuple[str, str | None]  # a source setting and its value (None: the setting named alone)
# (setting, value) whose option is a flag or a word of its own, and whose file form is written otherwise
_FLAGS: dict[Fix, tuple[str, str]] = {
    ("header", "false"): ("--no-header", "header: false"), ("header", "true"): ("--header-names", "header: true"),
    ("quote", "''"): ("--no-quote", "quote: ''"), ("timestamp_column", "none"): ("--timestamp-column none",
                                                                                "timestamp_column: ''")}

SPACE_DELIMITER: Fix = ("delimiter", "' '")  # a table whose fields spaces separate
SEQUENCE_FORMAT: Fix = ("format", "sequence")  # lines of a user and their items
COLUMNS: tuple[Fix, ...] = (("user_column", None), ("item_column", None), ("timestamp_column", None))


@dataclass(frozen=True)
class SettingsOrigin:
    """Where the data options came from: ``source_file`` (the ``--source`` file, resolved; None: options alone) and
    ``typed``, the source settings whose options the command line gave (they win over the file's, so a fix of
    theirs is an option still)."""

    source_file: Path | None = None
    typed: frozenset[str] = frozenset()

    def in_file(self, setting: str) -> bool:
        """Whether a fix of ``setting`` (a source setting's name, such as ``timestamp_format``) is the file's."""
        return self.source_file is not None and setting not in self.typed

    def word(self, setting: str) -> str:
        """``setting`` (a source setting's name) as the user gave it: ``--names`` under options, ``names`` where the
        file gives it."""
        return setting if self.in_file(setting) else _OPTION[setting]

    def named(self, *fixes: Fix, joiner: str = ", ") -> str:
        """The ``fixes`` as the user gives them: ``--user-column, --item-column`` under options;
        ``user_column, item_column in FILE`` where the file gives them; typed ones as options, then the file's."""
        options = [self._option(fix) for fix in fixes if not self.in_file(fix[0])]
        settings = [self._setting(fix) for fix in fixes if self.in_file(fix[0])]
        return joiner.join(options + ([f"{joiner.join(settings)} in {self.source_file}"] if settings else []))

    def give(self, *fixes: Fix, joiner: str = " and ") -> str:
        """``give --no-header and --names`` under options; ``set header: false and names in FILE`` where the file
        gives them; ``give --names and set header: false in FILE`` where one was typed (``joiner``: `` and ``, or
        ``, or `` for alternatives)."""
        options = [fix for fix in fixes if not self.in_file(fix[0])]
        settings = [fix for fix in fixes if self.in_file(fix[0])]
        return joiner.join(([f"give {self.named(*options, joiner=joiner)}"] if options else [])
                           + ([f"set {self.named(*settings, joiner=joiner)}"] if settings else []))

    def as_given(self, options: list[str]) -> str:
        """The command line's data ``options`` (``--user-column``, ``--no-header``, ``--k-core``), comma-separated,
        as the user gave them: each as itself, but those whose source setting the ``--source`` file gave, named as
        its settings after them (``--k-core, user_column, header: false in FILE``: helper-281, a refusal named
        options the user never typed)."""
        fixes = {option: (setting, None) for setting, option in _OPTION.items()}
        fixes |= {option: fix for fix, (option, _) in _FLAGS.items()}
        in_file = [fixes[option] for option in options if option in fixes and self.in_file(fixes[option][0])]
        typed = [option for option in options if option not in fixes or not self.in_file(fixes[option][0])]
        return ", ".join(typed + ([self.named(*in_file)] if in_file else []))

    def _option(self, fix: Fix) -> str:
        setting, value = fix
        if fix in _FLAGS:
            return _FLAGS[fix][0]
        return _OPTION[setting] + ("" if value is None else f" {value}")

    def _setting(self, fix: Fix) -> str:
        setting, value = fix
        if fix in _FLAGS:
            return _FLAGS[fix][1]
        return setting if value is None else f"{setting}: {value}"


OPTIONS = SettingsOrigin()  # the data options typed alone, without a --source file
