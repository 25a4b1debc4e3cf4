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
Events of the types in auditml.policy.lineage_state.LINEAGE_TYPES also carry `lineage`
(computed by the engine), and a trigger judged per element of a `for_each` list `each`.

Decisions:
- An evaluation error (a missing field, a type mismatch, a division by zero) makes the
  condition false, never an exception: one odd event must not stop a whole evaluation.
  Each error is counted in `Condition.stats` ("errors", and the last message in
  `Condition.last_error`) so the engine can report that a rule hit data it did not expect.
  Rule authors guard optional fields with `has(...)`.
- A result that is not a bool is a mistake in the rule, not in the data: ValidationError,
  at compile time when the syntax (or the event vocabulary, given a `FieldType`) shows it,
  else at evaluation.
- Unknown variables and functions are refused at compile time (the `cel` package itself
  would only notice at evaluation, when a typo would silently read as false).
- What a condition may cost is bounded before the `cel` package sees it (length, depth,
  comprehensions; see auditml.policy.cel_syntax): that package has no limits of its own,
  and a deep enough expression crashes the process. A panic inside it (a Rust bug) is an
  error like any other, never an uncaught BaseException.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import cel
import orjson

from auditml.errors import ValidationError
from auditml.policy import cel_syntax
from auditml.policy.cel_syntax import FieldType
from auditml.policy.model import EVENT_FIELDS, Event

__all__ = [
    "Condition",
    "FieldType",
    "compile_condition",
    "envelope_type",
    "event_to_cel",
    "referenced_fields",
]

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
    if event.lineage is not None:
        data["lineage"] = dict(event.lineage)
    if event.each is not None:
        data["each"] = event.each
    return data


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
        if head not in EVENT_FIELDS:
            continue
        value: Any = getattr(event, head)
        if value is None:  # an absent subject, lineage or each
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
        value: Any = getattr(event, head) if head in EVENT_FIELDS else None
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
        "iterates",
        "last_error",
        "source",
        "stats",
        "variables",
        "where",
    )

    def __init__(
        self,
        program: Any,
        source: str,
        variables: tuple[str, ...],
        where: str,
        *,
        iterates: bool = False,
    ) -> None:
        self._program = program
        self._paths = access_paths(source, variables)
        self._answers: dict[bytes, object] = {}
        self.source = source
        self.variables = variables
        self.where = where
        #: "evaluated": calls; "errors": calls that failed and so counted as false.
        self.stats: dict[str, int] = {"evaluated": 0, "errors": 0}
        self.last_error: str | None = None
        #: Whether it has a comprehension: its cost then grows faster than the size of
        #: the events it reads (auditml.policy.cel_syntax).
        self.iterates = iterates

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
                f"{self.where}: condition {_shown(self.source)} needs exactly the variables "
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
        except BaseException as exc:  # KeyError, TypeError, RuntimeError, ...; a Rust panic
            if not isinstance(exc, Exception) and not _is_panic(exc):
                raise  # KeyboardInterrupt, SystemExit
            self.stats["errors"] += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._remember(key, _FAILED)
            return False
        if type(result) is not bool:
            raise ValidationError(
                f"{self.where}: condition {_shown(self.source)} gave {_describe(result)}, not "
                'true or false; compare it with something, e.g. `== "high"`'
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


def _shown(source: str) -> str:
    """The source quoted for a message: at most about 100 characters of it."""
    text = repr(source)
    return text if len(text) <= 100 else f"{text[:96]}...{text[0]}"


def _is_panic(exc: BaseException) -> bool:
    # pyo3 raises Rust panics as pyo3_runtime.PanicException, a BaseException that no
    # module exports to catch by name.
    return type(exc).__name__ == "PanicException"


_CEL_ERROR = re.compile(r"ERROR: <input>:(\d+):(\d+): ([^\n|]*)")


def _cel_reason(source: str) -> str | None:
    """Why the cel package refuses `source` (its first error, in one short line), or None."""
    try:
        cel.compile(source)
    except BaseException as exc:
        if not isinstance(exc, Exception) and not _is_panic(exc):
            raise
        text = str(exc)
        found = _CEL_ERROR.search(text)
        if found is not None:
            line, column, message = found.groups()
            return f"line {line}, column {column}: {message.strip()}"[:300]
        return " ".join(text.split())[:300] or type(exc).__name__
    return None


_ENVELOPE_TYPES = {
    "seq": "int",
    "id": "string",
    "type": "string",
    "system": "string",
    "subject": "string",
    "actor": "map",
    "occurred_at": "timestamp",
    "recorded_at": "timestamp",
    "payload": "map",
}


def envelope_type(variable: str, path: tuple[str, ...]) -> str | None:
    """The CEL type of an envelope field of an event variable (see `event_to_cel`), or None.

    `system` (a registration's payload) and payload fields are not known here; a
    `FieldType` that knows the vocabulary can fall back on this for the envelope.
    """
    if variable == "system" or not path:
        return None
    if len(path) == 1:
        return _ENVELOPE_TYPES.get(path[0])
    if len(path) == 2 and path[0] == "actor":
        return "string"
    return None


def compile_condition(
    source: str,
    *,
    variables: Sequence[str],
    where: str,
    field_type: FieldType | None = None,
) -> Condition:
    """Compile CEL `source` whose free variables must be among `variables`.

    `where` names the place in the rule file (e.g. "rule gdpr-33 check.where") for
    error messages. `field_type` types the fields the condition reads (default: the
    envelope fields only, `envelope_type`). Raises ValidationError for a syntax error,
    an unknown variable or function, a condition beyond the bounds of
    auditml.policy.cel_syntax (length, depth, comprehensions), or one whose result the
    syntax shows is not true or false.
    """
    if not isinstance(source, str) or not source.strip():
        raise ValidationError(f"{where}: a condition must be a non-empty CEL expression")
    shown = _shown(source)
    try:
        tree = cel_syntax.parse(source)
        nesting = cel_syntax.check_bounds(tree)
    except cel_syntax.CelBoundError as exc:
        raise ValidationError(f"{where}: CEL expression {shown} is refused: {exc}") from None
    except cel_syntax.CelSyntaxError as exc:
        # The cel package's own words when it refuses too (it is safe to ask: the source
        # is within the length bound); else this parser's.
        reason = _cel_reason(source) or f"{exc} at character {exc.offset + 1}"
        raise ValidationError(f"{where}: invalid CEL expression {shown}: {reason}") from None
    try:
        program = cel.compile(source)
    except BaseException as exc:  # ValueError from the parser; a Rust panic
        if not isinstance(exc, Exception) and not _is_panic(exc):
            raise
        reason = _cel_reason(source) or type(exc).__name__
        raise ValidationError(f"{where}: invalid CEL expression {shown}: {reason}") from None
    allowed = set(variables)
    bound = set(_MACRO_VARIABLE.findall(source))
    unknown_vars = sorted(set(program.variables()) - allowed - bound - _TYPE_NAMES)
    if unknown_vars:
        raise ValidationError(
            f"{where}: CEL expression {shown} uses unknown variable(s) "
            f"{', '.join(unknown_vars)}; it may use {', '.join(variables) or 'no variables'}"
        )
    unknown_funcs = sorted(
        name
        for name in program.functions()
        if name[:1] not in {"_", "@", "!", "-"} and name not in STANDARD_FUNCTIONS
    )
    if unknown_funcs:
        raise ValidationError(
            f"{where}: CEL expression {shown} calls unknown function(s) "
            f"{', '.join(unknown_funcs)}; only CEL's standard functions are available"
        )
    gives = cel_syntax.result_type(tree, variables, field_type or envelope_type)
    if gives is not None and gives != "bool":
        raise ValidationError(
            f"{where}: CEL expression {shown} gives {cel_syntax.describe(gives)}, never true "
            'or false; a condition must be true or false: compare it, e.g. `== "high"`'
        )
    return Condition(program, source, tuple(variables), where, iterates=nesting > 0)


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
