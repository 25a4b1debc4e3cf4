"""to_jsonable: what ML code passes becomes JSON values, without changing any value."""

from __future__ import annotations

import enum
from collections import OrderedDict, namedtuple
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

import pytest

from auditml.errors import ValidationError
from auditml.events.jsonable import to_jsonable
from auditml.ledger.canonical import MAX_DEPTH, canonicalize

# --------------------------------------------------------------------------- #
# numpy and pandas are not installed: tiny look-alikes with the same duck type  #
# --------------------------------------------------------------------------- #


class FakeDtype:
    def __init__(self, name: str, kind: str) -> None:
        self.name, self.kind = name, kind

    def __str__(self) -> str:
        return self.name


class FakeScalar:
    """Like numpy.int64 / numpy.float32 / numpy.bool_: a dtype, ndim 0, item(), tolist()."""

    __module__ = "numpy"
    ndim = 0

    def __init__(self, value: object, dtype: str = "int64", kind: str = "i") -> None:
        self._value, self.dtype = value, FakeDtype(dtype, kind)

    def item(self) -> object:
        return self._value

    def tolist(self) -> object:
        return self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FakeScalar) and other._value == self._value


class FakeArray:
    """Like numpy.ndarray: a dtype, ndim >= 1, tolist(); item() fails for size > 1."""

    __module__ = "numpy"

    def __init__(self, rows: list[Any], dtype: str = "float64", kind: str = "f") -> None:
        self._rows, self.dtype = rows, FakeDtype(dtype, kind)
        self.ndim = 2 if rows and isinstance(rows[0], list) else 1

    def item(self) -> object:
        raise ValueError("can only convert an array of size 1 to a Python scalar")

    def tolist(self) -> list[Any]:
        return self._rows


class FakeSeries(FakeArray):
    __module__ = "pandas.core.series"


class FakeDataFrame:
    """Like pandas.DataFrame: dtypes (plural), no tolist()."""

    __module__ = "pandas.core.frame"
    dtypes = ("float64",)


class Colour(enum.Enum):
    RED = "red"
    BLUE = ("blue", 2)


class Label(enum.StrEnum):
    APPROVE = "approve"


class ClassIndex(enum.IntEnum):
    NEGATIVE = 0
    POSITIVE = 1


def refusal(value: object, where: str = "payload") -> str:
    with pytest.raises(ValidationError) as caught:
        to_jsonable(value, where=where)
    return str(caught.value)


# --------------------------------------------------------------------------- #
# Plain JSON: returned as is                                                   #
# --------------------------------------------------------------------------- #


def test_plain_json_is_returned_unchanged_without_copying() -> None:
    value = {
        "model": "credit",
        "n": 3,
        "ok": True,
        "none": None,
        "auc": 0.87,
        "nested": {"list": [1, 2.5, "x", {"deep": [None]}]},
    }
    assert to_jsonable(value, where="payload") is value
    for scalar in ("x", 0, -1.5, True, None):
        assert to_jsonable(scalar, where="v") is scalar


def test_only_the_changed_branch_is_copied_and_the_input_is_not_changed() -> None:
    untouched = {"a": [1, 2]}
    value = {"keep": untouched, "change": (1, 2), "last": "x"}
    result = to_jsonable(value, where="payload")
    assert result == {"keep": {"a": [1, 2]}, "change": [1, 2], "last": "x"}
    assert result is not value and result["keep"] is untouched  # type: ignore[index]
    assert value["change"] == (1, 2)  # the caller's object is left as it was
    items = [1, "a", {3, 1}]
    assert to_jsonable(items, where="p") == [1, "a", [1, 3]] and items[2] == {3, 1}


# --------------------------------------------------------------------------- #
# Conversions                                                                  #
# --------------------------------------------------------------------------- #


def test_numpy_like_scalars_become_python_scalars() -> None:
    assert to_jsonable(FakeScalar(7), where="p") == 7
    assert type(to_jsonable(FakeScalar(7), where="p")) is int
    assert to_jsonable(FakeScalar(0.25, "float32", "f"), where="p") == 0.25
    assert to_jsonable(FakeScalar(True, "bool", "b"), where="p") is True
    metrics = {"auc": FakeScalar(0.91, "float64", "f"), "n": FakeScalar(1200)}
    assert to_jsonable(metrics, where="metrics") == {"auc": 0.91, "n": 1200}


def test_numpy_like_arrays_and_pandas_like_series_become_lists() -> None:
    matrix = FakeArray([[1.0, 2.0], [3.0, 4.0]])
    assert to_jsonable({"confusion": matrix}, where="p") == {"confusion": [[1.0, 2.0], [3.0, 4.0]]}
    assert to_jsonable(FakeSeries([0.1, 0.2]), where="p") == [0.1, 0.2]
    # A 0-d array is a scalar: item(), not tolist().
    zero_d = FakeScalar(5)
    assert to_jsonable(zero_d, where="p") == 5


def test_float_subclass_like_numpy_float64_becomes_a_plain_float() -> None:
    class Float64(float):
        pass

    result = to_jsonable(Float64(0.5), where="p")
    assert result == 0.5 and type(result) is float
    assert "float inf is not allowed" in refusal({"x": Float64("inf")})


def test_str_and_int_subclasses_become_plain() -> None:
    class Token(str):
        def __str__(self) -> str:
            return "not the value"

    class Count(int):
        pass

    assert type(to_jsonable(Token("abc"), where="p")) is str
    assert to_jsonable(Token("abc"), where="p") == "abc"
    assert type(to_jsonable(Count(3), where="p")) is int


def test_times_and_dates() -> None:
    aware = datetime(2026, 1, 31, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    assert to_jsonable(aware, where="p") == "2026-01-31T09:30:00.000000Z"
    assert to_jsonable({"at": datetime(2026, 1, 1, tzinfo=UTC)}, where="p") == {
        "at": "2026-01-01T00:00:00.000000Z"
    }
    assert to_jsonable(date(2026, 2, 28), where="p") == "2026-02-28"


def test_decimals_keep_their_exact_value() -> None:
    assert to_jsonable(Decimal("2.00"), where="p") == 2
    assert type(to_jsonable(Decimal("2.00"), where="p")) is int
    assert to_jsonable(Decimal("1E+3"), where="p") == 1000
    assert to_jsonable(Decimal("0.1"), where="p") == 0.1
    assert to_jsonable(Decimal("-12.375"), where="p") == -12.375
    assert to_jsonable(Decimal("9007199254740991"), where="p") == 2**53 - 1


def test_enums_become_their_values() -> None:
    assert to_jsonable(Colour.RED, where="p") == "red"
    assert to_jsonable(Colour.BLUE, where="p") == ["blue", 2]
    label = to_jsonable(Label.APPROVE, where="p")
    assert label == "approve" and type(label) is str
    index = to_jsonable(ClassIndex.POSITIVE, where="p")
    assert index == 1 and type(index) is int


def test_paths_tuples_sets_and_mappings() -> None:
    assert to_jsonable(PurePosixPath("/data/loans.parquet"), where="p") == "/data/loans.parquet"
    assert to_jsonable(Path("models") / "credit.pkl", where="p") == str(Path("models/credit.pkl"))
    assert to_jsonable((1, (2, 3)), where="p") == [1, [2, 3]]
    Point = namedtuple("Point", "x y")
    assert to_jsonable(Point(1, 2), where="p") == [1, 2]
    assert to_jsonable({"b", "a", "c"}, where="p") == ["a", "b", "c"]
    assert to_jsonable(frozenset({3, 1, 2}), where="p") == [1, 2, 3]
    assert to_jsonable({Label.APPROVE, "reject"}, where="p") == ["approve", "reject"]
    ordered = OrderedDict([("z", 1), ("a", 2)])
    result = to_jsonable(ordered, where="p")
    assert type(result) is dict and result == {"z": 1, "a": 2}
    proxy = to_jsonable(MappingProxyType({"k": (1,)}), where="p")
    assert type(proxy) is dict and proxy == {"k": [1]}


def test_int_and_enum_keys_become_strings() -> None:
    report = {0: {"precision": 0.9}, 1: {"precision": 0.7}}
    assert to_jsonable(report, where="p") == {"0": {"precision": 0.9}, "1": {"precision": 0.7}}
    assert to_jsonable({ClassIndex.POSITIVE: 0.3, Label.APPROVE: 1}, where="p") == {
        "1": 0.3,
        "approve": 1,
    }
    assert to_jsonable({FakeScalar(4): "four"}, where="p") == {"4": "four"}


def test_converted_result_is_canonical_json() -> None:
    value = {
        "metrics": {"auc": FakeScalar(0.91, "float64", "f")},
        "classes": {0: "deny", 1: "approve"},
        "at": datetime(2026, 1, 1, tzinfo=UTC),
        "tags": {"b", "a"},
        "amount": Decimal("12.50"),
        "colour": Colour.RED,
    }
    assert canonicalize(to_jsonable(value, where="payload")) == (
        b'{"amount":12.5,"at":"2026-01-01T00:00:00.000000Z","classes":{"0":"deny","1":"approve"},'
        b'"colour":"red","metrics":{"auc":0.91},"tags":["a","b"]}'
    )


# --------------------------------------------------------------------------- #
# Refusals: each names `where`, the path and the type                          #
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_refused_at_their_path(bad: float) -> None:
    message = refusal({"metrics": {"auc": bad}})
    assert message.startswith("payload: float")
    assert "at /metrics/auc" in message and "JSON has no NaN or Infinity" in message
    assert "at /scores/1" in refusal({"scores": [0.1, bad]})
    assert "at /0" in refusal([FakeScalar(bad, "float64", "f")])


@pytest.mark.parametrize("blob", [b"\x00\x01", bytearray(b"ab"), memoryview(b"ab")])
def test_bytes_are_refused_with_the_sha256_advice(blob: object) -> None:
    message = refusal({"artifact": blob})
    assert "is not JSON at /artifact" in message and "store the SHA-256" in message
    assert type(blob).__name__ in message


def test_naive_datetime_is_refused() -> None:
    message = refusal({"events": [{"at": datetime(2026, 1, 1, 9)}]})
    assert "datetime 2026-01-01T09:00:00 has no timezone at /events/0/at" in message
    assert "aware datetime" in message


class _FailingZone(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta:
        raise RuntimeError("no timezone data")


def test_datetime_beyond_utc_range_or_with_a_failing_tzinfo_is_refused_not_a_traceback() -> None:
    late = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1)))
    message = refusal({"at": late})
    assert "'9999-12-31T23:59:59-01:00' falls outside years 0001-9999 once moved to UTC" in message
    assert "at /at" in message
    message = refusal({"at": datetime(2026, 1, 1, tzinfo=_FailingZone())})
    assert "failed (RuntimeError: no timezone data) at /at" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("NaN"), "Decimal 'NaN' is not allowed"),
        (Decimal("-Infinity"), "Decimal '-Infinity' is not allowed"),
        (Decimal("0.1000000000000000000001"), "has more precision than a JSON number"),
        (Decimal("9007199254740992"), "outside the safe integer range"),
    ],
)
def test_decimals_that_would_change_are_refused(value: Decimal, expected: str) -> None:
    message = refusal({"amount": value})
    assert expected in message and "at /amount" in message


def test_unorderable_set_is_refused() -> None:
    message = refusal({"tags": {1, "a"}})
    assert "the items of this set cannot be ordered" in message and "at /tags" in message


def test_bad_keys_are_refused_at_the_object_holding_them() -> None:
    message = refusal({"report": {1: "a", "1": "b"}})
    assert "object key '1' occurs twice once keys are strings" in message
    assert "at /report" in message
    for key, name in ((1.5, "float"), (None, "NoneType"), (True, "bool"), ((1, 2), "tuple")):
        message = refusal({"m": {key: 1}})
        assert f"({name}) is not a string at /m" in message


def test_unknown_types_are_refused_naming_path_and_type() -> None:
    message = refusal({"frame": FakeDataFrame()})
    assert "value of type pandas.core.frame.FakeDataFrame is not JSON at /frame" in message
    assert "value of type object is not JSON at the top level" in refusal(object())
    assert "value of type complex is not JSON at /z" in refusal({"z": 1j})
    assert "value of type datetime.timedelta is not JSON" in refusal(timedelta(days=1))
    generator = (i for i in range(3))
    assert "value of type generator is not JSON" in refusal({"g": generator})


def test_numpy_datetime64_is_refused() -> None:
    message = refusal({"t": FakeScalar(1_700_000_000_000_000_000, "datetime64[ns]", "M")})
    assert "numpy.FakeScalar of dtype datetime64[ns] is not JSON at /t" in message


def test_where_and_pointer_escaping() -> None:
    message = refusal({"a/b": {"c~d": float("nan")}}, where="event 2 payload")
    assert message.startswith("event 2 payload: ") and "at /a~1b/c~0d" in message


def test_cycles_and_deep_nesting_are_refused() -> None:
    loop: list[object] = []
    loop.append(loop)
    assert f"nested deeper than {MAX_DEPTH} levels" in refusal(loop)
    deep: object = "leaf"
    for _ in range(MAX_DEPTH + 5):
        deep = {"x": deep}
    assert "nested deeper" in refusal(deep)
