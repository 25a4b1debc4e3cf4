"""Turn what ML code naturally passes (numpy scalars, datetimes, enums, sets) into JSON values.

:func:`to_jsonable` is the one place where the recording SDK converts values, and
every conversion here keeps the value: a number stays the same number, a time the
same instant. What cannot be converted without changing or guessing is refused
with a :class:`~auditml.errors.ValidationError` naming where it is, because a
silently changed value would be signed as if the caller had sent it.

numpy and pandas are not imported (they are not dependencies): their objects are
recognised by duck typing (``dtype`` + ``item()``, ``tolist()``).

Conversions:

- ``str``, ``int``, ``float`` (finite), ``bool``, ``None``, ``dict`` with ``str``
  keys and ``list`` are JSON already and returned as they are (not copied).
- str/int/float subclasses (``numpy.float64``, ``numpy.str_``) -> the plain value.
- ``Enum`` members -> their value (converted in turn).
- numpy scalars and 0-d arrays (a ``dtype`` and ``item()``) -> ``item()``;
  arrays and pandas Series/Index (``tolist()``) -> lists. numpy ``datetime64`` and
  ``timedelta64`` are refused: ``item()`` turns nanosecond precision into a bare int.
- aware ``datetime`` -> the ledger's time string (UTC, microseconds, ``Z``); naive
  ``datetime`` is refused (its timezone would be a guess); ``date`` -> ``YYYY-MM-DD``.
- ``Decimal`` -> an ``int`` if integral (within +/-(2**53 - 1)), else the ``float``
  with exactly its value (``Decimal("0.1")`` -> ``0.1``); a Decimal with more
  precision than a double, NaN or infinity is refused. Not ``str``: numbers must
  stay numbers for the policy rules that compare them, and rounding must be the
  caller's visible choice (``float(d)`` or ``str(d)``).
- ``pathlib`` paths -> ``str(path)``.
- ``tuple`` (and named tuples) and other list subclasses -> lists; other mappings
  -> dicts; ``set``/``frozenset`` -> sorted lists (a set has no order, and the
  hashed bytes must not depend on iteration order); a set whose items cannot be
  ordered against each other is refused.
- dict keys: ``str`` as is; ``int`` keys (class indices such as ``{0: 0.91}``,
  numpy ints included) -> their decimal string, as ``json.dumps`` does; ``Enum``
  keys -> their value, then the same rules. Two keys that become the same string
  are refused. ``bool``, ``float``, ``None`` and other keys are refused.
- ``bytes``, NaN and infinities, and every other type are refused.

Large integers are left to :func:`auditml.ledger.canonical.check_json`, which the
ledger runs on every payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any, NoReturn, TypeAlias

from auditml.errors import ValidationError
from auditml.events.timefmt import format_time, to_utc
from auditml.ledger.canonical import MAX_DEPTH, MAX_SAFE_INTEGER

__all__ = ["to_jsonable"]

# A location, as a linked list (parent, key) built only when descending; None is the
# top level. Rendered only when an error needs it.
_Path: TypeAlias = "tuple[_Path, str | int] | None"


class _Refusal(Exception):
    """Raised inside the walk; to_jsonable turns it into a ValidationError with `where`."""

    def __init__(self, path: _Path, problem: str, advice: str) -> None:
        super().__init__(problem)
        self.path, self.problem, self.advice = path, problem, advice


def to_jsonable(value: object, *, where: str) -> object:
    """Return ``value`` as JSON values (dict, list, str, int, float, bool, None).

    Containers that need no conversion are returned as they are, not copied; a
    container with something to convert is copied (the caller's object is never
    changed). ``where`` names the value in messages, e.g. ``"payload"``.

    Raises:
        ValidationError: a value cannot be converted without changing it (see the
            module docstring). The message names ``where``, the location as a JSON
            pointer (e.g. ``/metrics/auc``) and the value's type.
    """
    try:
        return _convert(value, None, 0)
    except _Refusal as refusal:
        raise ValidationError(
            f"{where}: {refusal.problem} at {_pointer(refusal.path)}; {refusal.advice}"
        ) from None


def _convert(value: Any, path: _Path, depth: int) -> object:
    """Return the JSON form of ``value``: ``value`` itself when it is JSON already."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is float:
        # Subtraction gives NaN exactly for NaN and the infinities: cheaper than isfinite.
        if value - value == 0.0:
            return value
        raise _Refusal(path, f"float {value!r} is not allowed", "JSON has no NaN or Infinity")
    if t is dict:
        return _convert_dict(value, path, depth, copy=False)
    if t is list:
        return _convert_list(value, path, depth, copy=False)
    return _convert_other(value, path, depth)


def _convert_dict(
    value: Mapping[Any, Any], path: _Path, depth: int, *, copy: bool
) -> dict[str, object]:
    if depth >= MAX_DEPTH:
        _too_deep(path)
    out: dict[str, object] | None = {} if copy else None
    for index, (key, item) in enumerate(value.items()):
        name = key if type(key) is str else _convert_key(key, path)
        converted = _convert_child(item, (path, name), depth)
        if out is None:
            if name is key and converted is item:
                continue
            # First change: copy the unchanged entries before it (plain str keys, unique).
            out = {}
            for done, (earlier_key, earlier_item) in enumerate(value.items()):
                if done == index:
                    break
                out[earlier_key] = earlier_item
        if name in out:
            raise _Refusal(
                path,
                f"object key {name!r} occurs twice once keys are strings "
                f"(one of them was {_short_repr(key)}, a {_type_name(key)})",
                "make the keys distinct strings",
            )
        out[name] = converted
    # out is None only when nothing changed, and then `value` is a plain dict.
    return value if out is None else out  # type: ignore[return-value]


def _convert_list(value: Any, path: _Path, depth: int, *, copy: bool) -> list[object]:
    if depth >= MAX_DEPTH:
        _too_deep(path)
    out: list[object] | None = [] if copy else None
    for index, item in enumerate(value):
        converted = _convert_child(item, (path, index), depth)
        if out is None:
            if converted is item:
                continue
            out = list(value[:index])
        out.append(converted)
    # out is None only when nothing changed, and then `value` is a plain list.
    return value if out is None else out


def _convert_child(item: Any, path: _Path, depth: int) -> object:
    # The common scalar cases inline: this runs once per value of every payload.
    t = type(item)
    if t is str or t is int or t is bool or item is None:
        return item
    if t is float and item - item == 0.0:
        return item
    return _convert(item, path, depth + 1)


def _convert_other(value: Any, path: _Path, depth: int) -> object:
    """Convert everything that is not exactly str/int/float/bool/None/dict/list."""
    # Enum before str/int/float: a StrEnum or IntEnum member is also a str or an int.
    if isinstance(value, Enum):
        return _convert(value.value, path, depth + 1)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return _convert(float.__float__(value), path, depth)
    # datetime before date: every datetime is a date.
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise _Refusal(
                path,
                f"datetime {value.isoformat()} has no timezone",
                "pass an aware datetime, e.g. datetime.now(UTC) or dt.replace(tzinfo=UTC)",
            )
        try:
            moment = to_utc(value, where="")
        except ValidationError as exc:
            # A tzinfo that fails or answers None, or a time outside years 1-9999 in UTC.
            raise _Refusal(
                path,
                str(exc).removeprefix(": ").split("; ", 1)[0],
                "pass an aware datetime in years 1-9999 (UTC), e.g. datetime.now(UTC)",
            ) from None
        return format_time(moment)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _convert_decimal(value, path)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, list | tuple):
        return _convert_list(value, path, depth, copy=True)
    if isinstance(value, Mapping):
        return _convert_dict(value, path, depth, copy=True)
    if isinstance(value, set | frozenset):
        return _convert_set(value, path, depth)
    if isinstance(value, bytes | bytearray | memoryview):
        raise _Refusal(
            path,
            f"{_type_name(value)} is not JSON",
            "store the SHA-256 of the bytes instead (hashlib.sha256(data).hexdigest())",
        )
    dtype = getattr(value, "dtype", None)
    if dtype is not None and getattr(dtype, "kind", None) in ("M", "m"):
        raise _Refusal(
            path,
            f"{_type_name(value)} of dtype {dtype} is not JSON",
            "convert datetime64 values to aware datetimes (or strings) first",
        )
    item = getattr(value, "item", None)
    if dtype is not None and callable(item) and getattr(value, "ndim", 0) == 0:
        return _convert(item(), path, depth + 1)  # numpy scalar or 0-d array
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return _convert(tolist(), path, depth + 1)  # numpy array, pandas Series/Index
    raise _Refusal(
        path,
        f"value of type {_type_name(value)} is not JSON",
        "convert it to dict, list, str, int, float, bool or None first",
    )


def _convert_key(key: Any, path: _Path) -> str:
    """Return the JSON object key for a non-str dict key, or refuse it."""
    if isinstance(key, Enum):
        return _convert_key(key.value, path)
    if isinstance(key, str):
        return str.__str__(key)
    if isinstance(key, int) and not isinstance(key, bool):
        return int.__repr__(key)
    item = getattr(key, "item", None)
    if getattr(key, "dtype", None) is not None and callable(item):
        converted = item()
        if isinstance(converted, int) and not isinstance(converted, bool):
            return int.__repr__(converted)
    raise _Refusal(
        path,
        f"object key {_short_repr(key)} ({_type_name(key)}) is not a string",
        "JSON object keys are strings; int keys are converted, others convert yourself",
    )


def _convert_set(value: set[Any] | frozenset[Any], path: _Path, depth: int) -> list[object]:
    if depth >= MAX_DEPTH:
        _too_deep(path)
    items = [_convert(item, path, depth + 1) for item in value]
    try:
        return sorted(items)  # type: ignore[type-var]
    except TypeError:
        raise _Refusal(
            path,
            f"the items of this {_type_name(value)} cannot be ordered against each other",
            "pass a list in the order you want recorded",
        ) from None


def _convert_decimal(value: Decimal, path: _Path) -> int | float:
    """Return the JSON number with exactly the value of ``value``, or refuse it."""
    if not value.is_finite():
        raise _Refusal(path, f"Decimal {str(value)!r} is not allowed", "JSON has no NaN/Infinity")
    if value == value.to_integral_value():
        number = int(value)
        if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
            return number
        raise _Refusal(
            path,
            f"Decimal {str(value)!r} is outside the safe integer range -(2**53-1)..2**53-1",
            "pass str(value) to keep it exactly",
        )
    as_float = float(value)
    if Decimal(repr(as_float)) == value:
        return as_float
    raise _Refusal(
        path,
        f"Decimal {str(value)!r} has more precision than a JSON number (a double) keeps",
        "pass str(value) to keep it exactly or float(value) to round it",
    )


def _too_deep(path: _Path) -> NoReturn:
    raise _Refusal(
        path,
        f"value is nested deeper than {MAX_DEPTH} levels (or contains itself)",
        "flatten the structure",
    )


def _pointer(path: _Path) -> str:
    """Return ``path`` as an RFC 6901 JSON pointer, or ``"the top level"``."""
    segments: list[str] = []
    while path is not None:
        path, key = path
        segments.append(str(key).replace("~", "~0").replace("/", "~1"))
    if not segments:
        return "the top level"
    return "/" + "/".join(reversed(segments))


def _type_name(value: object) -> str:
    t = type(value)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _short_repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        return "<unprintable>"
    return text if len(text) <= 40 else text[:37] + "..."
