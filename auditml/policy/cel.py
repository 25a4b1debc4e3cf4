"""Conditions in rule files: CEL expressions over events, and nothing else.

A thin adapter over the `common-expression-language` package (module `cel`). Rule files
hold CEL source only; this module compiles it, refuses names that are not the check's
variables or CEL's standard functions, and evaluates it with events bound as CEL maps:

    trigger.payload.severity == "high"
    candidate.actor.id != trigger.actor.id
    candidate.occurred_at > trigger.occurred_at + duration("72h")

Each bound event is a map with `seq` (int), `id`, `type`, `system` (strings), `actor`
(map of strings), `occurred_at` and `recorded_at` (CEL timestamps), `payload` (the JSON
payload: times inside it stay strings; write `timestamp(trigger.payload.aware_at)`), and
`subject` (string) only when the event has one: use `has(trigger.subject)` to test.

Decisions:
- An evaluation error (a missing field, a type mismatch, a division by zero) makes the
  condition false, never an exception: one odd event must not stop a whole evaluation.
  Each error is counted in `Condition.stats` ("errors", and the last message in
  `Condition.last_error`) so the engine can report that a rule hit data it did not expect.
  Rule authors guard optional fields with `has(...)`.
- A result that is not a bool is a mistake in the rule, not in the data: ValidationError.
- Unknown variables and functions are refused at compile time (the `cel` package itself
  would only notice at evaluation, when a typo would silently read as false).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import cel
import orjson

from auditml.errors import ValidationError
from auditml.policy.model import Event

__all__ = ["Condition", "compile_condition", "event_to_cel", "referenced_fields"]

#: CEL standard functions (and the common string/time members) a condition may call.
STANDARD_FUNCTIONS = frozenset(
    {
        "size",
        "contains",
        "startsWith",
        "endsWith",
        "matches",
        "int",
        "uint",
        "double",
        "string",
        "bytes",
        "bool",
        "duration",
        "timestamp",
        "type",
        "dyn",
        "has",
        "all",
        "exists",
        "exists_one",
        "map",
        "filter",
        "max",
        "min",
        "getFullYear",
        "getMonth",
        "getDate",
        "getDayOfMonth",
        "getDayOfWeek",
        "getDayOfYear",
        "getHours",
        "getMinutes",
        "getSeconds",
        "getMilliseconds",
    }
)
#: Type names CEL reports as identifiers (`type(x) == string`).
_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "string", "bytes", "bool", "list", "map", "null_type", "type"}
)
_MACRO_VARIABLE = re.compile(
    r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,"
)
_STRING_LITERAL = re.compile(r"""(?:[rR]?"(?:[^"\\]|\\.)*"|[rR]?'(?:[^'\\]|\\.)*')""")
_DOTTED = re.compile(r"(?<![\w.])([A-Za-z_]\w*)((?:\s*\.\s*[A-Za-z_]\w*)+)(\s*\()?")
_INDEXED = re.compile(r"""\[\s*(?:"([A-Za-z_]\w*)"|'([A-Za-z_]\w*)')\s*\]""")


def event_to_cel(event: Event) -> dict[str, Any]:
    """Return `event` as the map a CEL expression sees (see the module docstring)."""
    data: dict[str, Any] = {
        "seq": event.seq,
        "id": event.id,
        "type": event.type,
        "system": event.system,
        "actor": event.actor if type(event.actor) is dict else dict(event.actor),
        "occurred_at": event.occurred_at,
        "recorded_at": event.recorded_at,
        "payload": event.payload if type(event.payload) is dict else dict(event.payload),
    }
    if event.subject is not None:
        data["subject"] = event.subject
    return data


_EVENT_FIELDS = frozenset(
    {"seq", "id", "type", "system", "subject", "actor", "occurred_at", "recorded_at", "payload"}
)
_ABSENT = object()
_FAILED = object()
#: Answers remembered per condition (then forgotten all at once): bounded memory.
_ANSWERS_KEPT = 4096
Paths = tuple[tuple[str, ...], ...]


def _pruned(event: Event, paths: Paths) -> dict[str, Any]:
    """The part of `event_to_cel(event)` that `paths` reach: what the expression reads.

    Handing a CEL program a whole event costs ~60 microseconds of conversion, most of it
    for fields the expression never reads. Containers on the way to a missing field are
    kept (empty), so `has()` answers as it would on the whole event.
    """
    out: dict[str, Any] = {}
    for head, *rest in paths:
        if head not in _EVENT_FIELDS:
            continue
        value: Any = getattr(event, head)
        if value is None:  # an absent subject
            continue
        node, key = out, head
        for part in rest:
            if type(value) is not dict and not isinstance(value, Mapping):
                break
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            if part not in value:
                value = _ABSENT
                break
            node, key, value = child, part, value[part]
        if value is not _ABSENT:
            node[key] = dict(value) if isinstance(value, Mapping) else value
    return out


def _values(event: Event, paths: Paths) -> list[Any]:
    """The values `paths` reach in `event`, as a JSON-able list: a remembered answer's key.

    [] marks an absent value, [v] a present one, so null and absent stay distinct.
    """
    found: list[Any] = []
    for head, *rest in paths:
        value: Any = getattr(event, head) if head in _EVENT_FIELDS else None
        for part in rest:
            if type(value) is not dict and not isinstance(value, Mapping):
                break
            value = value.get(part, _ABSENT)
            if value is _ABSENT:
                break
        found.append([] if value is _ABSENT or value is None else [value])
    return found


def access_paths(source: str, variables: Sequence[str]) -> dict[str, Paths | None]:
    """For each variable, the field paths `source` reads from it (None: it may read all).

    Conservative: a variable used other than as `variable.field...` (compared whole,
    passed to a function, indexed by an expression) reads everything. A path that is a
    prefix of another covers it.
    """
    text = _INDEXED.sub(lambda m: "." + (m.group(1) or m.group(2)), source)
    text = _STRING_LITERAL.sub('""', text)
    found: dict[str, set[tuple[str, ...]]] = {name: set() for name in variables}
    whole: set[str] = set()
    dotted: dict[str, int] = dict.fromkeys(variables, 0)
    for match in _DOTTED.finditer(text):
        root, tail, call = match.group(1), match.group(2), match.group(3)
        if root not in found:
            continue
        dotted[root] += 1
        parts = [part.strip() for part in tail.split(".") if part.strip()]
        if call:
            parts = parts[:-1]
        if not parts:
            whole.add(root)
        else:
            found[root].add(tuple(parts))
    for name in variables:
        uses = len(re.findall(rf"(?<![\w.]){re.escape(name)}(?!\w)", text))
        if uses != dotted[name]:
            whole.add(name)
    result: dict[str, Paths | None] = {}
    for name, paths in found.items():
        if name in whole:
            result[name] = None
            continue
        ordered = sorted(paths, key=lambda path: (len(path), path))
        kept: list[tuple[str, ...]] = []
        for path in ordered:
            if not any(path[: len(prefix)] == prefix for prefix in kept):
                kept.append(path)
        result[name] = tuple(kept)
    return result


class Condition:
    """A compiled CEL condition over named events. Build it with `compile_condition`."""

    __slots__ = (
        "_answers",
        "_paths",
        "_program",
        "last_error",
        "source",
        "stats",
        "variables",
        "where",
    )

    def __init__(self, program: Any, source: str, variables: tuple[str, ...], where: str) -> None:
        self._program = program
        self._paths = access_paths(source, variables)
        self._answers: dict[bytes, object] = {}
        self.source = source
        self.variables = variables
        self.where = where
        #: "evaluated": calls; "errors": calls that failed and so counted as false.
        self.stats: dict[str, int] = {"evaluated": 0, "errors": 0}
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"

    def reads(self, variable: str) -> bool:
        """Whether the expression may read `variable` at all."""
        paths = self._paths.get(variable, ())
        return paths is None or len(paths) > 0

    def evaluate(self, **bindings: Event | Mapping[str, Any]) -> bool:
        """Evaluate with each variable bound to an Event (or an already converted map).

        Returns False when evaluation fails (and counts it); raises ValidationError when
        a variable is not bound or the expression does not give a bool.
        """
        if len(bindings) != len(self.variables) or not all(
            name in bindings for name in self.variables
        ):
            raise ValidationError(
                f"{self.where}: condition {self.source!r} needs exactly the variables "
                f"{', '.join(self.variables)}; got {', '.join(sorted(bindings)) or 'none'}"
            )
        self.stats["evaluated"] += 1
        # CEL is pure: the same values read give the same answer. What an expression
        # reads repeats a lot (the same purpose, the same flags), so answers are
        # remembered by those values.
        key = self._key(bindings)
        if key is not None:
            known = self._answers.get(key)
            if known is not None:
                if known is _FAILED:
                    self.stats["errors"] += 1
                    return False
                return known is True
        context: dict[str, Any] = {}
        for name, value in bindings.items():
            if isinstance(value, Event):
                paths = self._paths.get(name)
                context[name] = event_to_cel(value) if paths is None else _pruned(value, paths)
            else:
                context[name] = value
        try:
            result = self._program.execute(context)
        except Exception as exc:  # the cel package raises KeyError, TypeError, RuntimeError, ...
            self.stats["errors"] += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._remember(key, _FAILED)
            return False
        if type(result) is not bool:
            raise ValidationError(
                f"{self.where}: condition {self.source!r} gave {_describe(result)}, not true or "
                'false; compare it with something, e.g. `== "high"`'
            )
        self._remember(key, result)
        return result

    def _key(self, bindings: Mapping[str, Event | Mapping[str, Any]]) -> bytes | None:
        parts: list[Any] = []
        for name in self.variables:
            value = bindings[name]
            if isinstance(value, Event):
                paths = self._paths.get(name)
                if paths is None:
                    return None  # reads the whole event: not worth remembering
                parts.append(_values(value, paths))
            else:
                parts.append(value)
        try:
            return orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            return None

    def _remember(self, key: bytes | None, answer: object) -> None:
        if key is None:
            return
        if len(self._answers) >= _ANSWERS_KEPT:
            self._answers.clear()
        self._answers[key] = answer


def _describe(value: object) -> str:
    if isinstance(value, datetime):
        return "a timestamp"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) < 60 else text[:57] + '...'}"


def compile_condition(source: str, *, variables: Sequence[str], where: str) -> Condition:
    """Compile CEL `source` whose free variables must be among `variables`.

    `where` names the place in the rule file (e.g. "rule gdpr-33 check.where") for
    error messages. Raises ValidationError for a syntax error, an unknown variable or
    an unknown function.
    """
    if not isinstance(source, str) or not source.strip():
        raise ValidationError(f"{where}: a condition must be a non-empty CEL expression")
    try:
        program = cel.compile(source)
    except Exception as exc:  # ValueError from the parser
        reason = str(exc).replace("\n", " ")
        raise ValidationError(f"{where}: invalid CEL expression {source!r}: {reason}") from None
    allowed = set(variables)
    bound = set(_MACRO_VARIABLE.findall(source))
    unknown_vars = sorted(set(program.variables()) - allowed - bound - _TYPE_NAMES)
    if unknown_vars:
        raise ValidationError(
            f"{where}: CEL expression {source!r} uses unknown variable(s) "
            f"{', '.join(unknown_vars)}; it may use {', '.join(variables) or 'no variables'}"
        )
    unknown_funcs = sorted(
        name
        for name in program.functions()
        if name[:1] not in {"_", "@", "!", "-"} and name not in STANDARD_FUNCTIONS
    )
    if unknown_funcs:
        raise ValidationError(
            f"{where}: CEL expression {source!r} calls unknown function(s) "
            f"{', '.join(unknown_funcs)}; only CEL's standard functions are available"
        )
    return Condition(program, source, tuple(variables), where)


def referenced_fields(source: str, variables: Sequence[str] = ("trigger", "candidate")) -> set[str]:
    """Return the dotted event paths `source` reads, e.g. {"trigger.payload.severity"}.

    Best effort, for linting rule files against the event vocabulary: string literals
    are ignored, a trailing method call (`.startsWith(`) is dropped, and `x["key"]`
    counts as `x.key`. Paths through comprehension variables are not followed.
    """
    # Literal-key indexing becomes a dot before the remaining literals are blanked.
    text = _INDEXED.sub(lambda m: "." + (m.group(1) or m.group(2)), source)
    text = _STRING_LITERAL.sub('""', text)
    found: set[str] = set()
    names = set(variables)
    for match in _DOTTED.finditer(text):
        root, tail, call = match.group(1), match.group(2), match.group(3)
        if root not in names:
            continue
        parts = [part.strip() for part in tail.split(".") if part.strip()]
        if call:
            parts = parts[:-1]
        if parts:
            found.add(".".join([root, *parts]))
    return found
