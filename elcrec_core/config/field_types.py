"""Type checks for the data's settings classes (plain dataclasses: the source, item metadata, row rules,
expectations, sequence building and the synthetic data), as the settings schema's pydantic dataclasses check theirs:
a library caller's ``dedupe="false"`` was true, ``event_types="purchase"`` the letters p, u, r, ... (helper-177).

:func:`check_field_types` reads each field through pydantic's lax mode against its annotation: a value that
converts exactly is kept converted (``"false"`` is false, ``"5"`` is 5, a list a tuple, a mapping of a nested
settings class that class, a ``pathlib`` path given as text where text is wanted), anything else raises
ValueError naming the class, the field and the value. True or false is no number (lax mode reads them as 1 and 0:
``k_core=True`` was a k-core of 1: helper-188): refused where the field takes no bool, here and in the settings
schema's classes (:class:`NoBoolAsNumber`)."""

from __future__ import annotations

import dataclasses
import functools
import numbers
import os
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError, ValidationInfo, field_validator
from pydantic.dataclasses import dataclass

_LAX = ConfigDict(allow_inf_nan=False)


def check_field_types(settings: Any) -> None:
    """Check and convert every field of the dataclass instance ``settings`` in place (frozen ones too); a field
    annotated ``pydantic.SkipValidation[...]`` is left to the class's own checks. Raises ValueError such as
    ``SequenceConfig.k_core: Input should be a valid integer, got a number with a fractional part (given 5.5)``,
    naming every wrong field."""
    problems, kind = [], type(settings).__name__
    for name, (hint, adapter) in _adapters(type(settings)).items():
        value = getattr(settings, name)
        try:
            if isinstance(value, Mapping) and dataclasses.is_dataclass(hint):  # a nested settings class: its checks
                checked = hint(**value)
            else:
                given = refuse_bool_as_number(hint, value)
                checked = adapter.validate_python(os.fspath(given) if isinstance(given, os.PathLike) else given)
        except ValidationError as err:
            problems += [_problem(kind, name, error) for error in err.errors()]
        except BoolAsNumber as err:
            problems.append(f"{kind}.{name}: {err} (given {value!r})")
        except (TypeError, ValueError) as err:  # the nested class's: a name that is none of its fields, ...
            problems.append(f"{kind}.{name}: {err}")
        else:
            object.__setattr__(settings, name, checked)
    if problems:
        raise ValueError("; ".join(problems))


def require_count(value: object, what: str) -> None:
    """Raise ValueError naming ``what`` where ``value`` is no whole number of 1 or more: a float, text or bool given
    as a library function's ``k`` gave torch's or Python's TypeError, and true was 1 (helper-216)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{what} must be a whole number of 1 or more, not {value!r}")


class BoolAsNumber(ValueError):
    """True or false given for a field that takes no bool (the message does not name the value: callers do)."""


def refuse_bool_as_number(annotation: Any, value: Any) -> Any:
    """``value`` for a field of ``annotation``; raises :class:`BoolAsNumber` where it is true or false, or a list,
    tuple or mapping that holds one, and the field takes no bool there (lax mode reads true as 1: ``tolerance:
    true`` of a run config was 1.0, helper-189)."""
    held = value.values() if isinstance(value, Mapping) else value if isinstance(value, (list, tuple)) else ()
    if (isinstance(value, bool) or any(isinstance(v, bool) for v in held)) and not _mentions_bool(annotation):
        raise BoolAsNumber("true or false is no value of this field, a number or a choice")
    return value


def _mentions_bool(annotation: Any) -> bool:
    return annotation is bool or any(_mentions_bool(arg) for arg in typing.get_args(annotation))


@dataclass
class NoBoolAsNumber:
    """The base of the settings schema's pydantic dataclasses: true or false given for a field that takes no bool
    (:func:`refuse_bool_as_number`) raises ValueError, where lax mode read it as 1 or 0."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_as_number(cls, value: Any, info: ValidationInfo) -> Any:
        return refuse_bool_as_number(cls.__pydantic_fields__[info.field_name].annotation, value)


@functools.cache
def _adapters(kind: type) -> dict[str, tuple[Any, TypeAdapter]]:
    hints = typing.get_type_hints(kind, include_extras=True)
    # pydantic refuses a config for a dataclass's own adapter (a nested settings class, given as an instance)
    return {field.name: (hint, TypeAdapter(hint, config=None if dataclasses.is_dataclass(hint) else _LAX))
            for field in dataclasses.fields(kind) for hint in [hints[field.name]]}


def _problem(kind: str, name: str, error: dict[str, Any]) -> str:
    """``Class.field[.inner]: what is wrong (given value)``."""
    inner = "".join(f".{part}" for part in error["loc"] if not isinstance(part, int) and "[" not in str(part))
    return f"{kind}.{name}{inner}: {error['msg']} (given {error['input']!r})"
