"""Tests for auditml.ledger.canonical: RFC 8785 bytes, refusals, strict parsing."""

from __future__ import annotations

import enum
import math
import struct
from decimal import Decimal

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditml.errors import ValidationError
from auditml.ledger import canonical
from auditml.ledger.canonical import (
    MAX_DEPTH,
    MAX_SAFE_INTEGER,
    _canonicalize_slow,
    _es6_number,
    canonicalize,
    parse_json,
)

# --------------------------------------------------------------------------- #
# RFC 8785 published examples                                                  #
# --------------------------------------------------------------------------- #

# RFC 8785 Appendix B: IEEE-754 bit patterns and their canonical text.
APPENDIX_B: list[tuple[int, str]] = [
    (0x0000000000000000, "0"),
    (0x8000000000000000, "0"),
    (0x0000000000000001, "5e-324"),
    (0x8000000000000001, "-5e-324"),
    (0x7FEFFFFFFFFFFFFF, "1.7976931348623157e+308"),
    (0xFFEFFFFFFFFFFFFF, "-1.7976931348623157e+308"),
    (0x4340000000000000, "9007199254740992"),
    (0xC340000000000000, "-9007199254740992"),
    (0x4430000000000000, "295147905179352830000"),
    (0x44B52D02C7E14AF5, "9.999999999999997e+22"),
    (0x44B52D02C7E14AF6, "1e+23"),
    (0x44B52D02C7E14AF7, "1.0000000000000001e+23"),
    (0x444B1AE4D6E2EF4E, "999999999999999700000"),
    (0x444B1AE4D6E2EF4F, "999999999999999900000"),
    (0x444B1AE4D6E2EF50, "1e+21"),
    (0x3EB0C6F7A0B5ED8C, "9.999999999999997e-7"),
    (0x3EB0C6F7A0B5ED8D, "0.000001"),
    (0x41B3DE4355555553, "333333333.3333332"),
    (0x41B3DE4355555554, "333333333.33333325"),
    (0x41B3DE4355555555, "333333333.3333333"),
    (0x41B3DE4355555556, "333333333.3333334"),
    (0x41B3DE4355555557, "333333333.33333343"),
    (0xBECBF647612F3696, "-0.0000033333333333333333"),
    (0x43143FF3C1CB0959, "1424953923781206.2"),
]


def _from_bits(bits: int) -> float:
    return float(struct.unpack(">d", bits.to_bytes(8, "big"))[0])


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B, ids=[f"{b:016x}" for b, _ in APPENDIX_B])
def test_appendix_b_numbers(bits: int, expected: str) -> None:
    x = _from_bits(bits)
    assert _es6_number(x) == expected
    assert rfc8785.dumps(x) == expected.encode()
    if _prints_as_unsafe_integer(x):
        # 9007199254740992.0 prints as integer digits that parse back as an unsafe int:
        # refused on input (see test_integral_float_printed_as_unsafe_integer_is_refused).
        with pytest.raises(ValidationError, match="prints as an integer"):
            canonicalize(x)
        return
    assert canonicalize(x) == expected.encode()
    assert _canonicalize_slow(x) == expected.encode()
    assert canonicalize([x]) == b"[" + expected.encode() + b"]"
    assert canonicalize({"n": x}) == b'{"n":' + expected.encode() + b"}"
    assert rfc8785.dumps(x) == expected.encode()


def test_rfc_section_3_2_2_example() -> None:
    value = {
        "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"\u002f",
        "literals": [None, True, False],
    }
    expected = (
        '{"literals":[null,true,false],'
        '"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    ).encode()
    assert canonicalize(value) == expected
    assert _canonicalize_slow(value) == expected
    assert rfc8785.dumps(value) == expected


def test_rfc_section_3_2_3_key_sorting() -> None:
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected_order = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    expected = (
        "{"
        + ",".join(f'"{k if k != chr(13) else chr(92) + "r"}":"{value[k]}"' for k in expected_order)
        + "}"
    ).encode()
    assert canonicalize(value) == expected
    assert _canonicalize_slow(value) == expected
    # Python's own order puts U+FB33 before the emoji: the reason for the slow path.
    assert sorted(value)[-1] == "\U0001f600"


def test_string_escaping_rfc_3_2_2_2() -> None:
    controls = "".join(chr(c) for c in range(0x20))
    out = canonicalize(controls + '"\\/\x7f\u2028\u2029\u00e9\U0001f600')
    assert out == (
        b'"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007'
        b"\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f"
        b"\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017"
        b"\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f"
        b'\\"\\\\/\x7f' + "\u2028\u2029\u00e9\U0001f600".encode() + b'"'
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (1.5e-7, "1.5e-7"),
        (5.0, "5"),
        (-0.0, "0"),
        (1e16, "10000000000000000"),
        (0.0001, "0.0001"),
        (0.00001, "0.00001"),
        (123.456, "123.456"),
        (-1.25e300, "-1.25e+300"),
        (2.2250738585072014e-308, "2.2250738585072014e-308"),
    ],
)
def test_es6_number_edges(value: float, expected: str) -> None:
    assert _es6_number(value) == expected
    assert rfc8785.dumps(value) == expected.encode()
    if not _prints_as_unsafe_integer(value):
        assert canonicalize(value) == expected.encode()


def _prints_as_unsafe_integer(x: float) -> bool:
    return x.is_integer() and MAX_SAFE_INTEGER < abs(x) < 1e21


def test_ints_and_bools() -> None:
    assert canonicalize([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, 0, True, False, None]) == (
        b"[9007199254740991,-9007199254740991,0,true,false,null]"
    )
    assert canonicalize({"a": (1, 2.0)}) == b'{"a":[1,2]}'


class _Colour(str, enum.Enum):
    RED = "red"


class _Level(enum.IntEnum):
    HIGH = 3


def test_subclasses_serialize_as_base_values() -> None:
    value = {_Colour.RED: _Colour.RED, "level": _Level.HIGH}
    assert canonicalize(value) == b'{"level":3,"red":"red"}'
    assert canonicalize(value) == rfc8785.dumps(value)


# --------------------------------------------------------------------------- #
# Fast path                                                                    #
# --------------------------------------------------------------------------- #

TYPICAL_EVENT = {
    "schema": "auditml/event/v1",
    "seq": 1842,
    "kind": "model.trained",
    "ts": "2025-11-26T17:36:12.123456Z",
    "actor": "svc:trainer",
    "subject": "model:credit-risk",
    "version": "3.4.1",
    "dataset_id": "ds_9f8e7d6c",
    "prev_hash": "sha256:" + "ab" * 32,
    "tags": ["gdpr", "ai-act"],
    "signed": True,
    "payload": {
        "epochs": 40,
        "learning_rate": 0.0003,
        "metrics": {"auc": 0.9123, "f1": 0.8741},
        "notes": "r\u00e9entra\u00een\u00e9 \u2028 \x01",
        "owner": None,
    },
}


def test_typical_event_uses_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = rfc8785.dumps(TYPICAL_EVENT)

    def boom(value: object) -> bytes:
        raise AssertionError("slow path used")

    monkeypatch.setattr(canonical, "_serialize_slow", boom)
    assert canonicalize(TYPICAL_EVENT) == expected


@pytest.mark.parametrize(
    "value",
    [
        {"x": 40.0},  # integral float
        {"x": 1e-5},  # below the fast range
        {"x": 1e21},  # above it
        {"x": -0.0},
        {"\U0001f600": 1, "\ufb33": 2},  # astral key
    ],
)
def test_slow_path_is_taken_when_needed(value: object, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = canonical._serialize_slow

    def spy(v: object) -> bytes:
        calls.append(v)
        return real(v)

    monkeypatch.setattr(canonical, "_serialize_slow", spy)
    assert canonicalize(value) == rfc8785.dumps(value)
    assert calls == [value]


@settings(max_examples=1000, deadline=None)
@given(
    st.floats(min_value=1e-4, max_value=1e16, exclude_max=True).filter(
        lambda x: not x.is_integer()
    ),
    st.booleans(),
)
def test_fast_float_range_repr_equals_es6(x: float, negate: bool) -> None:
    # The claim behind the fast path: here Python's repr is ES6 number text.
    x = -x if negate else x
    assert repr(x) == _es6_number(x) == rfc8785.dumps(x).decode()


# --------------------------------------------------------------------------- #
# Random values against rfc8785 and fast vs slow                               #
# --------------------------------------------------------------------------- #

_TRICKY_CHARS = st.sampled_from(
    [
        "\x00",
        "\x1f",
        "\b",
        "\n",
        '"',
        "\\",
        "/",
        "\x7f",
        "\x80",
        "\u2028",
        "\ue000",
        "\uffff",
        "\U00010000",
        "\U0001f600",
        "\U0010ffff",
        "a",
        "Z",
        "\u00e9",
        "~",
    ]
)
_TEXT = st.one_of(
    st.text(max_size=12),  # every code point except surrogates
    st.text(alphabet=_TRICKY_CHARS, max_size=8),
)
_FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),  # includes subnormals, +/-0, extremes
    st.sampled_from(
        [
            0.0,
            -0.0,
            5e-324,
            -5e-324,
            1.7976931348623157e308,
            1e16,
            1e21,
            1e-4,
            1e-6,
            1e-7,
            9999999999999998.0,
            0.00009999999999999999,
            2.0**53,
            1e23,
            0.1,
            -1.5,
        ]
    ),
    st.floats(min_value=1e-4, max_value=1e16),  # the fast-path range and its edges
    st.integers(-(2**60), 2**60).map(float),
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER),
    st.integers(-1000, 1000),
    _FLOATS,
    _TEXT,
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(_TEXT, children, max_size=6),
    ),
    max_leaves=25,
)

_HYP = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_HYP
@given(JSON_VALUES)
def test_matches_rfc8785_package_and_slow_path(value: object) -> None:
    # One test for both comparisons: generating the values is the costly part.
    if not _no_big_integral_float(value):
        with pytest.raises(ValidationError, match="prints as an integer"):
            canonicalize(value)
        return
    expected = rfc8785.dumps(value)
    assert canonicalize(value) == expected
    assert _canonicalize_slow(value) == expected


def _no_big_integral_float(value: object) -> bool:
    if isinstance(value, float):
        return not _prints_as_unsafe_integer(value)
    if isinstance(value, dict):
        return all(_no_big_integral_float(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_no_big_integral_float(v) for v in value)
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES.filter(_no_big_integral_float))
def test_parse_of_canonical_bytes_is_stable(value: object) -> None:
    first = canonicalize(value)
    assert canonicalize(parse_json(first, where="test")) == first


def test_integral_float_printed_as_unsafe_integer_is_refused() -> None:
    # JCS prints 1e20 as integer digits, which parse back as an int outside the safe
    # range: such an event could never be re-canonicalised by a verifier, so it is
    # refused on input. 1e21 and up print with an exponent and parse back as floats.
    with pytest.raises(ValidationError, match="prints as an integer.* at /x"):
        canonicalize({"x": 1e20})
    data = canonicalize({"x": 1e21})
    assert canonicalize(parse_json(data, where="stored")) == data == b'{"x":1e+21}'


# --------------------------------------------------------------------------- #
# Refusals                                                                     #
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_refuses_nan_and_infinity(bad: float) -> None:
    with pytest.raises(ValidationError, match=r"at /payload/metrics/auc; JSON has no NaN/Infinity"):
        canonicalize({"payload": {"metrics": {"auc": bad}}, "seq": 1})
    with pytest.raises(ValidationError, match=r"at /0/1"):
        _canonicalize_slow([[1.0, bad]])
    with pytest.raises(ValidationError, match=r"at the top level"):
        canonicalize(bad)


@pytest.mark.parametrize("bad", [MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1, 2**64, -(2**200)])
def test_refuses_unsafe_integers(bad: int) -> None:
    with pytest.raises(ValidationError, match=r"at /payload/n; send large integers as strings"):
        canonicalize({"payload": {"n": bad}})
    with pytest.raises(ValidationError, match=r"at /a/2"):
        canonicalize({"a": [1, 2, bad]})
    # rfc8785 refuses the same range (IntegerDomainError), so the random
    # comparison above only uses safe-range ints.
    with pytest.raises(rfc8785.IntegerDomainError):
        rfc8785.dumps(bad)


def test_refuses_enormous_integer_without_printing_it() -> None:
    # str() of a >4300-digit int raises ValueError on Python 3.11; the message
    # must still be a ValidationError.
    with pytest.raises(ValidationError, match=r"integer with \d+ bits .* at /n"):
        canonicalize({"n": 10**5000})


def test_bools_are_not_range_checked_ints() -> None:
    assert canonicalize({"a": True}) == b'{"a":true}'


def test_refuses_unpaired_surrogate_in_value() -> None:
    with pytest.raises(ValidationError, match=r"invalid UTF-8 / unpaired surrogate .* at /p/s"):
        canonicalize({"p": {"s": "ok\ud800"}})
    with pytest.raises(ValidationError, match=r"unpaired surrogate .* at /1"):
        canonicalize(["x", "\udc00"])


def test_refuses_unpaired_surrogate_in_key() -> None:
    with pytest.raises(ValidationError) as info:
        canonicalize({"payload": {"bad\udfff": 1}})
    message = str(info.value)
    assert "invalid UTF-8 / unpaired surrogate" in message
    assert 'object key "bad\\udfff"' in message
    assert "at /payload" in message
    message.encode("utf-8")  # the message itself must be printable
    # An astral character before the surrogate must not hide it.
    with pytest.raises(ValidationError, match=r"unpaired surrogate .* at the top level"):
        canonicalize({"\U0001f600\ud800": 1})


@pytest.mark.parametrize("key", [1, 2.5, None, True, (1, 2)])
def test_refuses_non_string_keys(key: object) -> None:
    with pytest.raises(ValidationError, match=rf"\({type(key).__name__}\) is not a string at /p"):
        canonicalize({"p": {key: 1}})


@pytest.mark.parametrize(
    ("bad", "type_name"),
    [({1, 2}, "set"), (b"x", "bytes"), (Decimal("1.5"), "decimal.Decimal"), (object(), "object")],
)
def test_refuses_other_types(bad: object, type_name: str) -> None:
    with pytest.raises(ValidationError, match=rf"value of type {type_name} is not JSON at /a/0"):
        canonicalize({"a": [bad]})


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def test_depth_limit() -> None:
    assert canonicalize(_nested(MAX_DEPTH)) == b"[" * MAX_DEPTH + b"1" + b"]" * MAX_DEPTH
    with pytest.raises(ValidationError, match=r"nested deeper than 64 levels at /0/0/0"):
        canonicalize(_nested(MAX_DEPTH + 1))


def test_reference_cycle_is_refused_as_too_deep() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValidationError, match="nested deeper than 64 levels"):
        canonicalize({"a": loop})


def test_path_escapes_pointer_characters() -> None:
    with pytest.raises(ValidationError, match=r"at /a~1b~0c/\\u000a; "):
        canonicalize({"a/b~c": {"\n": math.nan}})


# --------------------------------------------------------------------------- #
# parse_json                                                                   #
# --------------------------------------------------------------------------- #


def test_parse_round_trip() -> None:
    text = '{"a": [1, 2.5, -0.0, 1e2, true, null, "\\u00e9"], "b": {"c": 9007199254740991}}'
    value = parse_json(text, where="--payload")
    assert value == {"a": [1, 2.5, -0.0, 100.0, True, None, "\u00e9"], "b": {"c": MAX_SAFE_INTEGER}}
    assert isinstance(value["a"][0], int)  # type: ignore[index]
    assert isinstance(value["a"][3], float)  # type: ignore[index]
    assert parse_json(canonicalize(value), where="x") == {
        "a": [1, 2.5, 0, 100, True, None, "\u00e9"],
        "b": {"c": MAX_SAFE_INTEGER},
    }
    assert parse_json(text.encode(), where="bytes") == value


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_parse_refuses_nan_literals(literal: str) -> None:
    with pytest.raises(ValidationError, match=rf"^line 3 of events.jsonl: {literal} is not JSON"):
        parse_json(f'{{"auc": {literal}}}', where="line 3 of events.jsonl")


def test_parse_refuses_overflowing_number() -> None:
    with pytest.raises(ValidationError, match=r"--payload: number 1e400 is too large"):
        parse_json('{"x": 1e400}', where="--payload")


def test_parse_refuses_duplicate_keys() -> None:
    with pytest.raises(ValidationError, match=r'^--payload: duplicate object key "b"'):
        parse_json('{"a": {"b": 1, "c": 2, "b": 3}}', where="--payload")


def test_parse_refuses_invalid_utf8() -> None:
    with pytest.raises(ValidationError, match=r"^line 7 of events.jsonl: invalid UTF-8 at byte 7"):
        parse_json(b'{"a": "\xff"}', where="line 7 of events.jsonl")
    with pytest.raises(ValidationError, match="invalid UTF-8"):
        parse_json(b'"\xed\xa0\x80"', where="x")  # CESU-8 surrogate


def test_parse_reports_line_and_column() -> None:
    with pytest.raises(ValidationError, match=r"^--payload: malformed JSON at line 2 column 9: "):
        parse_json('{"a": 1,\n "b": [1', where="--payload")
    with pytest.raises(ValidationError, match=r"malformed JSON at line 1 column 1"):
        parse_json("", where="--payload")


def test_parse_refuses_huge_int_literal_and_deep_nesting() -> None:
    with pytest.raises(ValidationError, match="^x: unusable number"):
        parse_json("1" * 5000, where="x")
    with pytest.raises(ValidationError, match="^x: JSON is nested too deeply"):
        parse_json("[" * 100_000 + "]" * 100_000, where="x")
