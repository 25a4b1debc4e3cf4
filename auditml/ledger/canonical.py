"""Canonical JSON bytes (RFC 8785, JSON Canonicalization Scheme) and strict JSON parsing.

Every hash and signature in the ledger is computed over the bytes returned by
:func:`canonicalize`, so those bytes must be identical on every machine and in
every language that re-implements the format. RFC 8785 pins them down: UTF-8,
no whitespace, object keys sorted by UTF-16 code units, minimal string
escaping, and numbers printed the way ECMAScript prints an IEEE-754 double.

Values that JCS cannot represent faithfully are refused with a
:class:`~auditml.errors.ValidationError` that names where the value is (a
JSON-pointer path such as ``/payload/metrics/auc``) instead of being silently
coerced: a silently changed value would be signed as if the user had sent it.

All functions here are pure: no I/O, no global state besides constants.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any, NoReturn, TypeAlias, cast

import orjson

from auditml.errors import ValidationError

__all__ = [
    "MAX_DEPTH",
    "MAX_SAFE_INTEGER",
    "canonicalize",
    "canonicalize_checked",
    "check_json",
    "parse_json",
]

#: Largest integer magnitude accepted (I-JSON, RFC 7493 2.2): beyond 2**53 - 1 a
#: double can no longer represent every integer, so other JSON implementations
#: would silently round the value.
MAX_SAFE_INTEGER = 2**53 - 1

#: Deepest container nesting accepted. Real events are 2-4 levels deep; the limit
#: keeps the recursive walk far from Python's recursion limit and turns reference
#: cycles (which would otherwise recurse forever) into a clear error.
MAX_DEPTH = 64

# Inside this magnitude range, for non-integral values, Python's float repr and
# ECMAScript's Number::toString agree character for character: both print the
# shortest round-tripping digits, both use plain decimal notation (Python switches
# to exponents below 1e-4 and from 1e16 on, ECMAScript below 1e-6 and from 1e21
# on), and a non-integral value never gets Python's trailing ".0". (The upper
# bound is belt and braces: every double of magnitude >= 2**52 is integral, so the
# is_integer() test already sends those to the slow path.)
_FAST_FLOAT_MIN = 1e-4
_FAST_FLOAT_MAX = 1e16

# Lone surrogates are the only Python str content that UTF-8 cannot encode.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Astral characters are the only reason UTF-16 key order differs from the
# code-point order Python's sort_keys uses; surrogates are matched here too so a
# single search classifies a non-ASCII key.
_SURROGATE_OR_ASTRAL = re.compile("[\ud800-\udfff\U00010000-\U0010ffff]")

# RFC 8785 3.2.2.2: the two-character escapes, \u00xx (lowercase hex) for the
# other C0 controls, and everything else (DEL, U+2028, non-ASCII) literal.
_STRING_ESCAPES: dict[str, str] = {
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
    '"': '\\"',
    "\\": "\\\\",
}
for _code in range(0x20):
    _STRING_ESCAPES.setdefault(chr(_code), f"\\u{_code:04x}")
del _code
_NEEDS_ESCAPE = re.compile('[\x00-\x1f"\\\\]')

# orjson with sorted keys prints exactly RFC 8785 for the values _scan() lets through
# (checked against the rfc8785 package in the tests): the same minimal escapes with
# lowercase \u00xx, code-point key order, and shortest round-trip floats written in
# plain decimal inside the fast float range. It is ten times faster than json.dumps.
_FAST_OPTIONS = orjson.OPT_SORT_KEYS

# A location in the value being walked, as a linked list (parent, key) built only
# when descending into a container; None is the top level. Rendering it as a string
# is deferred until an error actually needs it.
_Path: TypeAlias = "tuple[_Path, str | int] | None"


def canonicalize(value: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON value.

    ``value`` may be built from ``dict`` (string keys only), ``list``, ``tuple``,
    ``str``, ``int``, ``float``, ``bool`` and ``None``; subclasses of these (for
    example ``str``/``int`` enums) are serialized as their base value.

    Returns:
        The canonical bytes. ``int`` and integral ``float`` print alike
        (``1`` and ``1.0`` both give ``1``), as JSON has a single number type.

    Raises:
        ValidationError: the value contains a NaN or infinite float, an integer
            outside +/-(2**53 - 1), a string or key with an unpaired surrogate, a
            non-string object key, a value of any other type, or containers
            nested deeper than :data:`MAX_DEPTH`. The message names the location
            as a JSON pointer and says what to send instead.
    """
    if _scan(value, None, 0):
        return _serialize_slow(value)
    # The scan proved the value is plain JSON on which orjson's output is
    # byte-identical to RFC 8785 (see _FAST_FLOAT_MIN and _SURROGATE_OR_ASTRAL).
    return orjson.dumps(value, option=_FAST_OPTIONS)


def check_json(value: object, *, at: str | None = None) -> bool:
    """Validate a JSON value as :func:`canonicalize` does, without encoding it.

    ``at`` names the value's own location in error messages (e.g. ``"payload"`` gives
    ``/payload/metrics/auc``). Returns whether the value needs the slow serializer.

    Raises:
        ValidationError: see :func:`canonicalize`.
    """
    return _scan(value, None if at is None else (None, at), 0 if at is None else 1)


def canonicalize_checked(value: object, *, slow: bool) -> bytes:
    """Return the RFC 8785 bytes of a value whose parts were validated already.

    For hot paths that validate the untrusted parts of a value up front (the ledger
    checks each payload before taking its append lock): every string, number and key
    of ``value`` must have passed :func:`check_json` or be plain ASCII text or a safe
    integer, and ``slow`` must be True if any check returned True.
    """
    return _serialize_slow(value) if slow else orjson.dumps(value, option=_FAST_OPTIONS)


def _canonicalize_slow(value: object) -> bytes:
    """Return RFC 8785 bytes using only the pure-Python serializer.

    Same contract and same ``ValidationError`` refusals as :func:`canonicalize`;
    it exists so tests can check the fast path against an independent encoder.
    """
    _scan(value, None, 0)
    return _serialize_slow(value)


# --------------------------------------------------------------------------- #
# Validation walk                                                              #
# --------------------------------------------------------------------------- #


def _scan(value: object, path: _Path, depth: int) -> bool:
    """Validate any value; return True if it needs the slow serializer.

    This is the general (slower) case, used for the top-level value and for
    anything the inlined checks in :func:`_scan_container` do not recognise.

    Raises:
        ValidationError: see :func:`canonicalize`.
    """
    if value is None or value is True or value is False:
        return False
    if isinstance(value, str):
        _check_str(value, path, is_key=False)
        return type(value) is not str
    if isinstance(value, int):
        _check_int(value, path)
        return type(value) is not int
    if isinstance(value, float):
        return _check_float(value, path) or type(value) is not float
    if isinstance(value, dict | list | tuple):
        slow = _scan_container(value, path, depth + 1)
        return slow or type(value) not in (dict, list, tuple)
    _refuse(
        path,
        f"value of type {_type_name(value)} is not JSON",
        "use dict, list, str, int, float, bool or None",
    )


def _scan_container(
    container: dict[Any, Any] | list[Any] | tuple[Any, ...], path: _Path, depth: int
) -> bool:
    """Validate a dict/list/tuple at nesting level ``depth``; return True if slow path needed.

    The checks for exact str/int/bool/None/float/dict/list values are inlined
    here on purpose: this loop runs once per value of every event and a
    function call per value would cost more than the checks themselves.

    Raises:
        ValidationError: see :func:`canonicalize`.
    """
    if depth > MAX_DEPTH:
        _refuse(path, f"value is nested deeper than {MAX_DEPTH} levels", "flatten the structure")
    slow = False
    # Keys and values are typed Any: the loop dispatches on exact type(v) held in
    # a local, which a type checker cannot narrow through.
    items: Iterable[tuple[Any, Any]]
    if isinstance(container, dict):
        is_dict = True
        # dict.items() rather than container.items() so a dict subclass cannot
        # show the walk something other than what the serializers will see.
        items = dict.items(container)
    else:
        is_dict = False
        items = enumerate(container)
    for key, v in items:
        if is_dict:
            if type(key) is not str:
                if not isinstance(key, str):
                    _refuse(
                        path,
                        f"object key {_short_repr(key)} ({_type_name(key)}) is not a string",
                        "JSON object keys must be strings; convert the key with str()",
                    )
                slow = True  # str subclass: normalised to a plain str by the slow path
                _check_str(key, (path, key), is_key=True)
            # isascii() is O(1): ASCII keys need no further check. Either kind of
            # character may come first in the key, so look for surrogates explicitly;
            # past that, the match was astral.
            elif not key.isascii() and _SURROGATE_OR_ASTRAL.search(key) is not None:
                _check_str(key, (path, key), is_key=True)
                slow = True  # astral character: UTF-16 order != code-point order
        t = type(v)
        if t is str:
            if not v.isascii() and _SURROGATE.search(v) is not None:
                _check_str(v, (path, key), is_key=False)
        elif t is int:
            if v > MAX_SAFE_INTEGER or v < -MAX_SAFE_INTEGER:
                _check_int(v, (path, key))
        elif v is None or t is bool:
            pass
        elif t is float:
            magnitude = -v if v < 0 else v
            if not _FAST_FLOAT_MIN <= magnitude < _FAST_FLOAT_MAX or v.is_integer():
                _check_float(v, (path, key))
                slow = True
        elif t is dict or t is list or t is tuple:
            if _scan_container(v, (path, key), depth + 1):
                slow = True
        elif _scan(v, (path, key), depth):
            slow = True
    return slow


def _check_str(s: str, path: _Path, *, is_key: bool) -> None:
    """Refuse a string UTF-8 cannot encode (an unpaired surrogate).

    Raises:
        ValidationError: naming the location and the offending code point.
    """
    match = _SURROGATE.search(s)
    if match is not None:
        # A key is reported at the object holding it (a path through the key
        # would point at its value), with the key shown escaped.
        where, what = (path, "string")
        if is_key and path is not None:
            where, what = path[0], f'object key "{_printable(str.__str__(s))}"'
        _refuse(
            where,
            f"{what} is invalid UTF-8 / unpaired surrogate "
            f"(U+{ord(match.group()):04X} at character {match.start()})",
            "send valid Unicode text; binary data should be base64-encoded",
        )


def _check_int(n: int, path: _Path) -> None:
    """Refuse an integer outside the I-JSON safe range.

    Raises:
        ValidationError: naming the location.
    """
    if -MAX_SAFE_INTEGER <= n <= MAX_SAFE_INTEGER:
        return
    # str() of an int over 4300 digits raises ValueError on Python >= 3.11, so
    # very large values are described by size instead of printed.
    shown = str(n) if n.bit_length() <= 256 else f"with {n.bit_length()} bits"
    _refuse(
        path,
        f"integer {shown} is outside the safe range -(2**53-1)..2**53-1",
        "send large integers as strings",
    )


def _check_float(x: float, path: _Path) -> bool:
    """Refuse NaN and infinities; return True (a float here always needs the slow path).

    Raises:
        ValidationError: naming the location.
    """
    if not math.isfinite(x):
        _refuse(
            path,
            f"float {x!r} is not allowed",
            "JSON has no NaN/Infinity; send null or a string",
        )
    if MAX_SAFE_INTEGER < abs(x) < 1e21 and x.is_integer():
        # RFC 8785 prints these as plain digits (1e20 -> 100000000000000000000), which
        # every reader parses back as an integer beyond the safe range: the event could
        # never be re-canonicalised, so no verifier could check it.
        _refuse(
            path,
            f"float {x!r} prints as an integer beyond +/-(2**53 - 1)",
            "send large numbers as strings",
        )
    return True


def _refuse(path: _Path, problem: str, advice: str) -> NoReturn:
    """Raise the ValidationError for ``problem`` at ``path``.

    Raises:
        ValidationError: always, as ``"<problem> at <pointer>; <advice>"``.
    """
    raise ValidationError(f"{problem} at {_pointer(path)}; {advice}")


def _pointer(path: _Path) -> str:
    """Return ``path`` as an RFC 6901 JSON pointer, or ``"the top level"`` for the root.

    Characters that would make the message itself unprintable (controls,
    unpaired surrogates) are shown as ``\\uXXXX`` escapes.
    """
    segments: list[str] = []
    while path is not None:
        path, key = path
        # str.__str__: a str enum key's own __str__ would print the member name.
        text = str.__str__(key) if isinstance(key, str) else str(key)
        segment = text.replace("~", "~0").replace("/", "~1")
        segments.append(_printable(segment))
    if not segments:
        return "the top level"
    return "/" + "/".join(reversed(segments))


def _printable(text: str) -> str:
    """Return ``text`` with control characters and unpaired surrogates as ``\\uXXXX``.

    Messages end up on terminals and in logs; a raw control character or a
    lone surrogate there would garble the output or fail to encode.
    """
    if text.isascii() and text.isprintable():
        return text
    return "".join(
        c if c.isprintable() and not "\ud800" <= c <= "\udfff" else f"\\u{ord(c):04x}" for c in text
    )


def _type_name(value: object) -> str:
    """Return the qualified type name of ``value``, for messages."""
    t = type(value)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _short_repr(value: object) -> str:
    """Return a bounded repr of ``value`` that cannot itself fail, for messages."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        return "<unprintable>"
    return text if len(text) <= 40 else text[:37] + "..."


# --------------------------------------------------------------------------- #
# Slow path: a direct RFC 8785 serializer                                      #
# --------------------------------------------------------------------------- #


def _serialize_slow(value: object) -> bytes:
    """Return RFC 8785 bytes of an already validated value, without the json module."""
    parts: list[str] = []
    _emit(value, parts)
    # Cannot fail: _scan() refused every unpaired surrogate.
    return "".join(parts).encode("utf-8")


def _emit(value: object, out: list[str]) -> None:
    """Append the canonical text of an already validated ``value`` to ``out``."""
    # bool before int: True/False are ints in Python but literals in JSON.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        _emit_str(value, out)
    elif isinstance(value, int):
        # int.__repr__ rather than str(): an IntEnum's __str__ prints its name.
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_es6_number(float.__float__(value)))
    elif isinstance(value, dict):
        # RFC 8785 3.2.3: sort by UTF-16 code units; big-endian UTF-16 bytes
        # compare in exactly that order.
        entries = sorted(
            ((str.__str__(k), v) for k, v in dict.items(value)),
            key=lambda kv: kv[0].encode("utf-16-be"),
        )
        out.append("{")
        for index, (key, item) in enumerate(entries):
            if index:
                out.append(",")
            _emit_str(key, out)
            out.append(":")
            _emit(item, out)
        out.append("}")
    else:  # list or tuple, guaranteed by _scan()
        out.append("[")
        for index, item in enumerate(cast("list[object] | tuple[object, ...]", value)):
            if index:
                out.append(",")
            _emit(item, out)
        out.append("]")


def _emit_str(s: str, out: list[str]) -> None:
    """Append ``s`` as a JSON string literal escaped per RFC 8785 3.2.2.2."""
    # str.__str__ gives the plain characters of a str subclass (a str enum's
    # __str__ would print the member name).
    s = str.__str__(s)
    out.append('"')
    out.append(_NEEDS_ESCAPE.sub(_escape_match, s))
    out.append('"')


def _escape_match(match: re.Match[str]) -> str:
    """Return the RFC 8785 escape for one matched character."""
    return _STRING_ESCAPES[match.group()]


def _es6_number(x: float) -> str:
    """Return ``x`` formatted as ECMAScript Number::toString (ECMA-262 7.1.12.1).

    ``x`` must be finite. Python's repr supplies the shortest round-tripping
    digits (correctly rounded, ties to even, as ECMAScript requires); only the
    notation is rebuilt here.
    """
    if x == 0:
        return "0"  # RFC 8785: -0 serializes as 0
    sign = "-" if x < 0 else ""
    mantissa, _, exponent = repr(abs(x)).partition("e")
    integer_part, _, fraction = mantissa.partition(".")
    digits = integer_part + fraction
    # n is ECMAScript's exponent: value = 0.<digits> * 10**n.
    n = len(integer_part) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        e = n - 1
        exp_text = f"e+{e}" if e >= 0 else f"e-{-e}"
        text = (digits if k == 1 else digits[0] + "." + digits[1:]) + exp_text
    return sign + text


# --------------------------------------------------------------------------- #
# Strict parsing                                                               #
# --------------------------------------------------------------------------- #


def parse_json(text: str | bytes, *, where: str) -> object:
    """Parse user-supplied JSON strictly.

    Args:
        text: JSON text; ``bytes`` must be UTF-8 (no other encoding is guessed).
        where: where the text came from, for messages, e.g.
            ``"line 3 of events.jsonl"`` or ``"--payload"``.

    Returns:
        The parsed value: dicts, lists, str, int (for numbers without fraction or
        exponent), float (for the others), bool and None.

    Raises:
        ValidationError: the bytes are not valid UTF-8, the text is not JSON
            (the message gives line and column), it uses ``NaN``/``Infinity``
            or a number too large for a double, an object repeats a key (named
            in the message), or it is nested too deeply for Python to parse.
    """
    if isinstance(text, bytes | bytearray | memoryview):
        raw = bytes(text)
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(
                f"{where}: invalid UTF-8 at byte {exc.start} "
                f"(0x{raw[exc.start]:02x}); save the file as UTF-8"
            ) from None
    else:
        decoded = text
    try:
        return json.loads(
            decoded,
            parse_constant=_reject_constant,
            parse_float=_parse_finite_float,
            object_pairs_hook=_unique_keys_object,
        )
    except _ParseRefusal as exc:
        raise ValidationError(f"{where}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{where}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise ValidationError(
            f"{where}: JSON is nested too deeply to parse; flatten the structure"
        ) from None
    except ValueError as exc:
        # int() refuses numbers over 4300 digits (CVE-2020-10735 guard).
        raise ValidationError(f"{where}: unusable number: {exc}") from None


class _ParseRefusal(Exception):
    """Raised from json.loads hooks; carries the message for ValidationError.

    A private type (not ValueError) so json cannot mistake it for its own errors.
    """


def _reject_constant(literal: str) -> NoReturn:
    """json hook for NaN/Infinity/-Infinity: always refuse."""
    raise _ParseRefusal(f"{literal} is not JSON; send null or a string")


def _parse_finite_float(literal: str) -> float:
    """json hook for numbers with a fraction or exponent: refuse overflow to infinity.

    Returns:
        The float value of ``literal``.
    """
    value = float(literal)
    if math.isinf(value):
        # "1e400" is valid JSON syntax but would silently become Infinity.
        raise _ParseRefusal(f"number {literal[:40]} is too large for a double; send it as a string")
    return value


def _unique_keys_object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """json hook building each object; refuse repeated keys.

    Returns:
        The object as a dict.
    """
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _ParseRefusal(
                    f"duplicate object key {json.dumps(key)}; each key may appear only once"
                )
            seen.add(key)
    return result
