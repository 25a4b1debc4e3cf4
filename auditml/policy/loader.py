"""Load a policies folder: every rule file, checked against the vocabulary and regimes.yaml.

Layout (docs/POLICIES.md)::

    policies/
      regimes.yaml              regime dates and calendars (auditml.policy.regimes)
      gdpr/*.yaml, ai_act/*.yaml, internal/*.yaml, ...   one rule (or a list) a file
      fixtures/<rule-id>/*.jsonl                         fixture ledgers of the rules' tests

:func:`load_rules` is all or nothing: every problem of every file is collected and
raised together as one :class:`PolicyError` (a ValidationError, exit code 2), each as
``FILE:LINE: FIELD: what is wrong``; nothing is returned partially loaded.
:func:`lint_rules` adds what the engine needs before a rule can be trusted: compiled
CEL conditions and tests with a pass and a fail fixture whose events are valid.

The loaded :class:`RuleSet` carries a SHA-256 over its canonical form (RFC 8785 JSON of
the rules sorted by id and the regimes), which findings and reports cite and which
``policy.changed`` records. It depends on content only: comments, whitespace, key order
and defaults written out or left implicit do not change it.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.resources
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import UnionType
from typing import TYPE_CHECKING, Any, TypeVar

import yaml  # type: ignore[import-untyped]  # no stubs installed; nodes are read defensively
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import ErrorDetails

from auditml.errors import ConfigError, NotFoundError, ValidationError
from auditml.events.envelope import prepare_event
from auditml.events.payloads import DURATION_PATTERN, PAYLOAD_MODELS
from auditml.ledger.canonical import canonicalize, parse_json
from auditml.policy.lineage_state import LINEAGE_FIELDS, lineage_field_problem
from auditml.policy.model import parse_ledger_time
from auditml.policy.regimes import Regimes
from auditml.policy.rules import (
    CALENDAR_NAME_PATTERN,
    CHECK_KINDS,
    CONDITION_VARIABLES,
    ENVELOPE_FIELDS,
    FIXTURE_PATTERN,
    REGIME_NAME_PATTERN,
    RULE_ID_PATTERN,
    Loc,
    Rule,
    RuleTest,
    dotted,
)

__all__ = [
    "ARTICLES_FILE",
    "FIXTURES_DIR",
    "FIXTURE_RECORDED_AT",
    "MAX_YAML_DEPTH",
    "MAX_YAML_FILE_BYTES",
    "REGIMES_FILE",
    "PolicyError",
    "Problem",
    "RuleSet",
    "RuleSource",
    "default_policies_dir",
    "field_problem",
    "lint_rules",
    "load_rules",
    "read_regimes",
    "rule_set_sha256",
]

REGIMES_FILE = "regimes.yaml"
#: The provisions of the law that coverage places rules under (auditml.policy.coverage).
ARTICLES_FILE = "articles.yaml"
FIXTURES_DIR = "fixtures"
#: A fixture line's own key (not an import key): when the event was recorded.
FIXTURE_RECORDED_AT = "recorded_at"
RULE_SUFFIX = ".yaml"

#: Check parameters that must name a time field.
TIME_PARAMS = frozenset({"clock_field", "satisfied_clock_field", "disposal_covers"})
_ENVELOPE_TIMES = frozenset({"occurred_at", "recorded_at"})

_PATTERN_MEANINGS = {
    RULE_ID_PATTERN: "a rule id of lowercase letters, digits and dashes, e.g. gdpr-33-breach",
    REGIME_NAME_PATTERN: "a regime name such as gdpr or aiact.annex_iii",
    CALENDAR_NAME_PATTERN: "a calendar name such as eu or exact",
    DURATION_PATTERN: "an ISO 8601 duration in whole units such as PT72H, P30D, P1M or P2Y",
    r"^[A-Z]{2}$": "an ISO 3166-1 alpha-2 country code in capitals, e.g. DE",
    r"^https?://\S+$": "an http(s) URL",
    FIXTURE_PATTERN: "a .jsonl path relative to policies/fixtures/, e.g. <rule-id>/pass.jsonl",
}

if TYPE_CHECKING:  # imported lazily at run time, as the cel package is
    from auditml.policy.cel import Condition

M = TypeVar("M", bound=BaseModel)


# --------------------------------------------------------------------------- #
# Problems                                                                     #
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a policy file, where it is and what is wrong."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class PolicyError(ValidationError):
    """Rule or regime files were refused; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[Problem], *, what: str) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in {what}:\n{lines}")


# --------------------------------------------------------------------------- #
# YAML with line numbers                                                       #
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class YamlDoc:
    """A parsed YAML file and its node tree, to find the line of any field."""

    file: str
    data: Any
    node: yaml.Node

    def line(self, loc: Loc) -> int:
        """The 1-based line of the deepest node of ``loc`` that exists in the file."""
        node = self.node
        line = int(node.start_mark.line) + 1
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                        node, line = value, int(key.start_mark.line) + 1
                        break
                else:
                    return line
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if not 0 <= part < len(node.value):
                    return line
                node = node.value[part]
                line = int(node.start_mark.line) + 1
            else:
                return line
        return line


#: The largest rule or regimes file read (bytes). The shipped files are under 5 KB and all
#: 26 shipped rules in one file would be 83 KB; a file is parsed in pure Python (about a
#: second a megabyte), so this also bounds what one file can cost to load.
MAX_YAML_FILE_BYTES = 1024 * 1024
#: How deeply YAML collections may nest. A rule is at most 7 levels deep (a list of rules,
#: rule, check, extension, match_on, a pair, a value); deeper input is a mistake or an attack
#: on the (recursive) YAML composer.
MAX_YAML_DEPTH = 32


class _Refused(yaml.MarkedYAMLError):  # type: ignore[misc]  # PyYAML has no stubs
    """Valid YAML that a rule file may not use (anchors and aliases, deep nesting)."""


class _RuleFileLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML has no stubs
    """The pure-Python safe loader, refusing anchors and aliases and deep nesting.

    Aliases let a few lines expand into billions of nodes ("billion laughs"); rule files
    never need them, so the first anchor or alias is refused with its line. Nesting is
    counted as nodes are composed, before the composer's recursion can exhaust the stack.
    A value PyYAML cannot convert (a date with month 13) is refused with its line too.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(
                problem="YAML anchors and aliases (&name, *name, <<: *name) are not allowed "
                "in rule files; write each value out where it is used",
                problem_mark=event.start_mark,
            )
        if self._depth >= MAX_YAML_DEPTH:
            raise _Refused(
                problem=f"nested more than {MAX_YAML_DEPTH} levels deep; a rule needs at "
                "most 7 levels: look for unclosed or repeated [ or {",
                problem_mark=event.start_mark,
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        # PyYAML converts what looks like a number or a date with int() and datetime():
        # 5,000 digits (int max str digits) or month 13 raise a bare ValueError.
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            value = str(getattr(node, "value", ""))
            shown = value if len(value) <= 40 else value[:37] + "..."
            raise _Refused(
                problem=f"cannot read {shown!r} ({str(exc)[:120]}); put text in quotes",
                problem_mark=node.start_mark,
            ) from None


def read_yaml(path: Path, display: str) -> tuple[YamlDoc | None, list[Problem]]:
    """Parse one YAML file; problems (unreadable, too large, not text, syntax, anchors and
    aliases, nesting, duplicate keys, empty) have lines where the file has them."""
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_YAML_FILE_BYTES + 1)
    except OSError as exc:
        return None, [Problem(display, None, "", f"cannot read: {exc.strerror}")]
    if len(raw) > MAX_YAML_FILE_BYTES:
        return None, [
            Problem(
                display,
                None,
                "",
                f"the file is larger than {MAX_YAML_FILE_BYTES:,} bytes, the limit for a rule "
                "or regimes file; split its rules into several files",
            )
        ]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, [Problem(display, None, "", "cannot read: not UTF-8 text")]
    try:
        loader = _RuleFileLoader(text)
    except yaml.reader.ReaderError as exc:  # a control character such as NUL, anywhere
        return None, [_unprintable(display, text, exc)]
    try:
        node = loader.get_single_node()
        if node is None:
            return None, [Problem(display, None, "", "the file is empty")]
        duplicates = list(_duplicate_keys(node, display))
        if duplicates:
            return None, duplicates
        data = loader.construct_document(node)
    except _Refused as exc:
        mark = exc.problem_mark
        return None, [Problem(display, mark.line + 1, "", str(exc.problem))]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = " ".join(part for part in (exc.context, exc.problem) if part)
        return None, [Problem(display, line, "", f"invalid YAML: {reason}")]
    except yaml.YAMLError as exc:
        return None, [Problem(display, None, "", f"invalid YAML: {exc}")]
    finally:
        loader.dispose()
    return YamlDoc(display, data, node), []


def _unprintable(display: str, text: str, exc: Any) -> Problem:
    position = exc.position if isinstance(exc.position, int) else 0
    line = text.count("\n", 0, position) + 1
    code = exc.character if isinstance(exc.character, int) else 0
    name = "a NUL byte" if code == 0 else f"the control character U+{code:04X}"
    return Problem(
        display,
        line,
        "",
        f"{name} is not allowed in YAML; rule files are plain UTF-8 text (a file full of "
        "NUL bytes is often UTF-16 or binary): remove it or save the file as UTF-8",
    )


def _duplicate_keys(node: yaml.Node, display: str) -> Iterator[Problem]:
    # PyYAML keeps the last of two equal keys silently; a rule must not change that way.
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                line = key.start_mark.line + 1
                if key.value in seen:
                    yield Problem(
                        display,
                        line,
                        key.value,
                        f"key given twice (first on line {seen[key.value]})",
                    )
                seen.setdefault(key.value, line)
            yield from _duplicate_keys(value, display)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _duplicate_keys(item, display)


def validate_model(
    model: type[M], data: Any, doc: YamlDoc, prefix: Loc = ()
) -> tuple[M | None, list[Problem]]:
    """Validate ``data`` (found at ``prefix`` in ``doc``); every error gets a line."""
    try:
        return model.model_validate(data), []
    except PydanticValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = _clean_loc(prefix + tuple(error["loc"]))
            if error["type"] == "union_tag_invalid":
                loc = (*loc, "kind")  # the kind is at fault, not the whole check

            problems.append(
                Problem(
                    doc.file,
                    doc.line(loc),
                    dotted(loc),
                    _describe(model, error),
                )
            )
        return None, problems


def _clean_loc(loc: Loc) -> Loc:
    """Drop pydantic's own location parts: the check kind tag and dict-key markers."""
    cleaned: list[str | int] = []
    skip = False
    for index, part in enumerate(loc):
        if skip:
            skip = False
            continue
        if part == "[key]":
            continue
        cleaned.append(part)
        if part == "check" and index + 1 < len(loc) and loc[index + 1] in CHECK_KINDS:
            skip = True
    return tuple(cleaned)


def _describe(model: type[BaseModel], error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    got = _show(error.get("input"))
    if kind == "missing":
        return "required field missing"
    if kind == "extra_forbidden":
        allowed = _allowed_at(model, tuple(error["loc"][:-1]))
        hint = f"; allowed: {', '.join(allowed)}" if allowed else ""
        return f"unknown field{hint}"
    if kind == "union_tag_invalid":
        return f"unknown check kind {ctx.get('tag')!r}; use one of {', '.join(CHECK_KINDS)}"
    if kind == "union_tag_not_found":
        return f"missing `kind`; use one of {', '.join(CHECK_KINDS)}"
    if kind in {"rule_value", "calendar"}:
        return str(error["msg"])
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected')}, got {got}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern"))
        return f"expected {_PATTERN_MEANINGS.get(pattern, f'text matching {pattern}')}, got {got}"
    if kind == "string_too_short":
        return "expected non-empty text"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length')} item(s)"
    if kind in {"string_type", "int_type", "bool_type", "list_type", "dict_type", "model_type"}:
        expected = {
            "string_type": "text",
            "int_type": "a whole number",
            "bool_type": "true or false",
            "list_type": "a list",
            "dict_type": "a mapping",
            "model_type": "a mapping",
        }[kind]
        hint = ""
        if isinstance(error.get("input"), bool) and kind == "string_type":
            hint = " (YAML reads yes/no/on/off/true/false as booleans: quote the value)"
        return f"expected {expected}, got {got}{hint}"
    message = str(error["msg"])
    return f"{message[:1].lower()}{message[1:]}, got {got}"


def _show(value: object) -> str:
    if value is None or isinstance(value, str | int | float | bool):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(_models_in(arg))
    return found


def _allowed_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The field names allowed at ``loc`` (a raw pydantic location) below ``model``."""
    candidates = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        if part in CHECK_KINDS and CHECK_KINDS[part] in candidates:
            candidates = [CHECK_KINDS[part]]  # the tag of the check union
            continue
        candidates = [
            nested
            for candidate in candidates
            if (info := candidate.model_fields.get(part)) is not None
            for nested in _models_in(info.annotation)
        ]
    return sorted(candidates[0].model_fields) if len(candidates) == 1 else []


# --------------------------------------------------------------------------- #
# Field paths against the vocabulary                                           #
# --------------------------------------------------------------------------- #


def _is_time(annotation: object) -> bool:
    # An optional time (``Timestamp | None``) keeps its Annotated wrapper inside the union.
    if typing.get_origin(annotation) is typing.Annotated:
        return _is_time(typing.get_args(annotation)[0])
    return annotation is datetime or any(_is_time(arg) for arg in typing.get_args(annotation))


def _is_object(annotation: object) -> bool:
    if typing.get_origin(annotation) is dict:
        return True
    return any(_is_object(arg) for arg in typing.get_args(annotation))


def field_problem(event_type: str, path: str, *, time: bool = False) -> str | None:
    """What is wrong with ``path`` as a field of ``event_type`` events, or None.

    With ``time``, the field must also hold a time (a deadline's clock).
    """
    if path in ENVELOPE_FIELDS:
        if time and path not in _ENVELOPE_TIMES:
            return f"{path} is not a time; use occurred_at or a time field of the payload"
        return None
    head, _, rest = path.partition(".")
    if path == "each":
        return (
            "each is the element a for_each check judges the trigger for, and this check "
            "has no for_each; add one (exists_before) or name another field"
        )
    if head == "lineage" and rest:
        problem = lineage_field_problem(event_type, rest)
        if problem is None and time and rest != "trained_at":
            return f"{path} is not a time; of the lineage, only lineage.trained_at is"
        return problem
    if head != "payload" or not rest:
        return (
            f"{path!r} is not a field of an event; envelope fields are "
            f"{', '.join(sorted(ENVELOPE_FIELDS))}, payload fields are payload.<name>"
        )
    model = PAYLOAD_MODELS[event_type]
    parts = rest.split(".")
    for index, part in enumerate(parts):
        info = model.model_fields.get(part)
        if info is None:
            shown = "payload." + ".".join(parts[: index + 1])
            names = sorted(model.model_fields)
            close = difflib.get_close_matches(part, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"{event_type} has no field {shown}{hint}; its fields: {', '.join(names)}"
        if index == len(parts) - 1:
            if time and not _is_time(info.annotation):
                return f"{event_type} {path} is not a time field"
            return None
        nested = _models_in(info.annotation)
        if nested:
            model = nested[0]
        elif _is_object(info.annotation):
            return None  # a free-form object: any key may be there
        else:
            return f"{event_type} payload.{'.'.join(parts[: index + 1])} is not an object"
    return None


# --------------------------------------------------------------------------- #
# The rule set                                                                 #
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class RuleSource:
    """Where a rule was read from, to point at any of its fields."""

    file: str
    path: Path
    doc: YamlDoc = field(repr=False)
    prefix: Loc = ()

    def line(self, loc: Loc = ()) -> int:
        return self.doc.line((*self.prefix, *loc))

    def field(self, loc: Loc) -> str:
        return dotted((*self.prefix, *loc))


@dataclass(frozen=True)
class RuleSet:
    """A loaded, validated policies folder."""

    directory: Path
    rules: tuple[Rule, ...]
    regimes: Regimes
    sha256: str
    sources: Mapping[str, RuleSource] = field(repr=False)

    def get(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        close = difflib.get_close_matches(rule_id, [rule.id for rule in self.rules], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise NotFoundError(
            f"no rule {rule_id!r} in {self.directory}{hint}; `auditml policy list` lists them"
        )


def rule_set_sha256(rules: Iterable[Rule], regimes: Regimes) -> str:
    """SHA-256 (hex) of the canonical form: RFC 8785 JSON of the rules by id and the regimes."""
    form = {
        "rules": [rule.model_dump(mode="json") for rule in sorted(rules, key=lambda r: r.id)],
        "regimes": regimes.model_dump(mode="json"),
    }
    return hashlib.sha256(canonicalize(form)).hexdigest()


def default_policies_dir() -> Path:
    """The policies folder shipped in the wheel (``auditml.policies``).

    In a source checkout installed in editable mode the package is not mapped; the
    checkout's own ``policies/`` is used then. Raises ConfigError if neither exists.
    """
    try:
        shipped = importlib.resources.files("auditml.policies")
    except ModuleNotFoundError:
        shipped = None
    if isinstance(shipped, Path) and (shipped / REGIMES_FILE).is_file():
        return shipped
    checkout = Path(__file__).resolve().parents[2] / "policies"
    if (checkout / REGIMES_FILE).is_file():
        return checkout
    raise ConfigError(
        "the shipped policies are missing from this installation; reinstall auditml, "
        "or name a policies folder with --policies DIR"
    )


def read_regimes(path: Path, display: str) -> tuple[Regimes | None, list[Problem]]:
    """Read regimes.yaml; returns the model or the problems (with lines)."""
    if not path.is_file():
        return None, [Problem(display, None, "", "missing: a policies folder needs regimes.yaml")]
    doc, problems = read_yaml(path, display)
    if doc is None:
        return None, problems
    return validate_model(Regimes, doc.data, doc)


def _rule_files(directory: Path) -> tuple[list[Path], list[Problem]]:
    files: list[Path] = []
    problems: list[Problem] = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if relative.parts[0] == FIXTURES_DIR or not path.is_file():
            continue
        if relative in (Path(REGIMES_FILE), Path(ARTICLES_FILE)):
            continue
        if path.suffix == ".yml":
            problems.append(Problem(str(path), None, "", "rule files end in .yaml, not .yml"))
        elif path.suffix == RULE_SUFFIX:
            files.append(path)
    return files, problems


@dataclass
class _Collected:
    rules: list[tuple[Rule, RuleSource]]
    regimes: Regimes | None
    problems: list[Problem]


def _collect(directory: Path) -> _Collected:
    if not directory.is_dir():
        raise ConfigError(f"policies folder {directory} does not exist or is not a folder")
    regimes, problems = read_regimes(directory / REGIMES_FILE, str(directory / REGIMES_FILE))
    files, file_problems = _rule_files(directory)
    problems.extend(file_problems)
    if not files:
        problems.append(Problem(str(directory), None, "", "no rule files (*.yaml) found"))
    found: list[tuple[Rule, RuleSource]] = []
    first_seen: dict[str, RuleSource] = {}
    for path in files:
        doc, read_problems = read_yaml(path, str(path))
        problems.extend(read_problems)
        if doc is None:
            continue
        items: list[tuple[Any, Loc]]
        if isinstance(doc.data, list):
            items = [(item, (index,)) for index, item in enumerate(doc.data)]
            if not items:
                problems.append(Problem(doc.file, doc.line(()), "", "the list holds no rules"))
        else:
            items = [(doc.data, ())]
        for data, prefix in items:
            rule, rule_problems = validate_model(Rule, data, doc, prefix)
            problems.extend(rule_problems)
            if rule is None:
                continue
            source = RuleSource(doc.file, path, doc, prefix)
            semantic = list(_rule_problems(rule, source, regimes))
            problems.extend(semantic)
            if rule.id in first_seen:
                first = first_seen[rule.id]
                problems.append(
                    Problem(
                        source.file,
                        source.line(("id",)),
                        source.field(("id",)),
                        f"duplicate rule id {rule.id!r}; first defined at "
                        f"{first.file}:{first.line(('id',))}",
                    )
                )
                continue
            first_seen[rule.id] = source
            if not semantic:
                found.append((rule, source))
    # Each file's problems together, top to bottom; the order of files is kept.
    order = {name: index for index, name in enumerate(dict.fromkeys(p.file for p in problems))}
    problems.sort(key=lambda p: (order[p.file], p.line or 0))
    return _Collected(found, regimes, problems)


def _rule_problems(rule: Rule, source: RuleSource, regimes: Regimes | None) -> Iterator[Problem]:
    """Cross-file checks: field paths against the vocabulary, regime and calendar names."""

    def problem(loc: Loc, message: str) -> Problem:
        return Problem(source.file, source.line(loc), source.field(loc), message)

    check = rule.check
    fan_out = getattr(check, "for_each", None)
    for loc, event_type, path in check.paths():
        full_loc = ("check", *loc)
        if path == "each" and fan_out is not None:
            continue
        name = next((part for part in loc if isinstance(part, str)), "")
        message = field_problem(event_type, path, time=name in TIME_PARAMS)
        if message is None and loc == ("for_each",):
            message = _list_problem(event_type, path)
        if message is not None:
            yield problem(full_loc, message)
    if regimes is None:
        return
    regime = rule.applies.regime
    if regime is not None and regime not in regimes.regimes:
        yield problem(("applies", "regime"), _unknown("regime", regime, regimes.regimes))
    calendar = getattr(check, "calendar", None)
    if isinstance(calendar, str) and calendar not in regimes.calendars:
        yield problem(("check", "calendar"), _unknown("calendar", calendar, regimes.calendars))


def _list_problem(event_type: str, path: str) -> str | None:
    """for_each must name a list of the trigger (a lineage list or a payload list)."""
    head, _, rest = path.partition(".")
    if head == "lineage":
        kind: str | None = LINEAGE_FIELDS[rest][0]
    elif head == "payload":
        kind = payload_field_type(event_type, rest.split("."))
    else:
        kind = "string"
    if kind in {"list", None}:  # None: inside a free-form object, known when evaluated
        return None
    return f"{path} is not a list; for_each needs a list, e.g. lineage.inputs"


def _unknown(what: str, name: str, known: Iterable[str]) -> str:
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what} {name!r}{hint}; regimes.yaml defines {', '.join(names)}"


def load_rules(directory: Path) -> RuleSet:
    """Load and validate every rule file under ``directory`` (all or nothing).

    Reads every ``*.yaml`` below it except ``regimes.yaml`` and ``fixtures/``; a file
    holds one rule or a list of rules.

    Raises:
        ConfigError: the folder does not exist.
        PolicyError: (a ValidationError) listing every problem of every file as
            ``FILE:LINE: FIELD: what is wrong``: YAML syntax, schema, unknown event types
            and payload fields, unknown regimes and calendars, duplicate rule ids.
    """
    collected = _collect(directory)
    if collected.problems or collected.regimes is None:
        raise PolicyError(collected.problems, what=f"the policies under {directory}")
    return _rule_set(directory, collected.rules, collected.regimes)


def _rule_set(directory: Path, found: list[tuple[Rule, RuleSource]], regimes: Regimes) -> RuleSet:
    ordered = sorted(found, key=lambda item: item[0].id)
    return RuleSet(
        directory=directory,
        rules=tuple(rule for rule, _ in ordered),
        regimes=regimes,
        sha256=rule_set_sha256((rule for rule, _ in ordered), regimes),
        sources={rule.id: source for rule, source in ordered},
    )


# --------------------------------------------------------------------------- #
# Lint                                                                         #
# --------------------------------------------------------------------------- #

_FIXTURE_SYSTEM = "fixture"
_FIXTURE_ACTOR = {"id": "fixture", "kind": "service"}


def lint_rules(directory: Path) -> RuleSet:
    """Load the rules and check what a rule needs before it can be trusted.

    On top of :func:`load_rules`: every CEL condition compiles within the bounds of
    auditml.policy.cel_syntax, uses only its variables (``trigger``; ``candidate`` in
    ``where``; ``system`` in ``require``), reads fields the events have, and gives true
    or false (by the types of the fields it reads, and on the events of the rule's own
    fixtures); every rule has tests with at least one ``pass`` and one ``fail``; every
    fixture exists and each of its lines is a valid event in the shape ``auditml import``
    reads. Last, each rule's check is built as the engine builds it: a rule that lints
    also runs.

    Raises:
        PolicyError: listing every problem found, load problems included.
    """
    collected = _collect(directory)
    problems = list(collected.problems)
    checked: dict[Path, list[Problem]] = {}
    for rule, source in collected.rules:
        compiled: list[_Compiled] = []
        condition_problems = list(_condition_problems(rule, source, compiled))
        problems.extend(condition_problems)
        if not condition_problems and collected.regimes is not None:
            problems.extend(_build_problems(rule, source, collected.regimes))
        test_problems = list(_test_problems(rule, source, directory, checked))
        problems.extend(test_problems)
        if compiled and not test_problems:
            problems.extend(_sample_problems(rule, source, directory, compiled))
    if problems or collected.regimes is None:
        raise PolicyError(problems, what=f"the policies under {directory}")
    return _rule_set(directory, collected.rules, collected.regimes)


def _build_problems(rule: Rule, source: RuleSource, regimes: Regimes) -> Iterator[Problem]:
    """What stops the engine from building the rule's check, at the field at fault."""
    from auditml.policy.build import BuildError, build_check

    try:
        build_check(rule, regimes, place=f"{source.file}:{rule.id}")
    except BuildError as exc:
        yield Problem(source.file, source.line(exc.loc), source.field(exc.loc), exc.reason)
    except ValidationError as exc:
        loc: Loc = ("check",)
        yield Problem(source.file, source.line(loc), source.field(loc), str(exc))


@dataclass(frozen=True)
class _Compiled:
    """A condition that compiled, where it is, and the event types its variables bind."""

    loc: Loc
    condition: Condition
    #: variable -> the event types it binds (None: any type).
    binds: Mapping[str, frozenset[str] | None]


def _condition_problems(
    rule: Rule, source: RuleSource, compiled: list[_Compiled]
) -> Iterator[Problem]:
    """Problems of the rule's conditions; those that compile are appended to `compiled`."""
    registrations = frozenset({_REGISTRATION})
    if rule.applies.condition is not None:
        yield from _one_condition(
            source,
            _SCOPE_LOC,
            rule.applies.condition,
            ("system",),
            {"system": registrations},
            compiled,
        )
    check = rule.check
    for loc, name, text in rule.conditions():
        # What each variable binds: the triggers, the candidate's type when known, or
        # the registration of the trigger's system.
        binds: dict[str, frozenset[str] | None] = {}
        for variable in CONDITION_VARIABLES[name]:
            if variable == "trigger":
                binds[variable] = check.trigger_types()
            elif variable == "system":
                binds[variable] = registrations
            elif (candidate := check.candidate_type(loc[1:])) is not None:
                binds[variable] = frozenset({candidate})
        fan_out = getattr(check, "for_each", None) is not None
        yield from _one_condition(
            source, loc, text, CONDITION_VARIABLES[name], binds, compiled, fan_out=fan_out
        )


_SCOPE_LOC: Loc = ("applies", "condition")
_REGISTRATION = "system.registered"


def _one_condition(
    source: RuleSource,
    loc: Loc,
    text: str,
    variables: tuple[str, ...],
    binds: Mapping[str, frozenset[str] | None],
    compiled: list[_Compiled],
    *,
    fan_out: bool = False,
) -> Iterator[Problem]:
    """Problems of one condition over `variables`, each bound to events of the types in
    `binds` (absent: not known); ``system`` is a registration's payload itself. With
    `fan_out` (a for_each check) the trigger has `each` too."""
    from auditml.policy.cel import compile_condition, referenced_fields

    line, where = source.line(loc), source.field(loc)
    try:
        condition = compile_condition(
            text, variables=variables, where="condition", field_type=_vocabulary_type(binds)
        )
    except ValidationError as exc:
        yield Problem(source.file, line, where, str(exc).removeprefix("condition: "))
        return
    if len(binds) == len(variables):  # the events it sees are known: it can be tried
        compiled.append(_Compiled(loc, condition, binds))
    for ref in sorted(referenced_fields(text, variables)):
        variable, _, path = ref.partition(".")
        if variable == "system":
            message = field_problem(_REGISTRATION, f"payload.{path}")
        elif path == "each" and variable == "trigger" and fan_out:
            continue
        elif variable in binds and path not in {"payload", "actor", "lineage"}:
            message = _any_type_problem(binds[variable], path)
        else:
            continue
        if message is not None:
            yield Problem(source.file, line, where, f"{variable}: {message}")


# --------------------------------------------------------------------------- #
# What a condition gives                                                       #
# --------------------------------------------------------------------------- #


def _vocabulary_type(
    binds: Mapping[str, Iterable[str] | None],
) -> typing.Callable[[str, tuple[str, ...]], str | None]:
    """A FieldType (auditml.policy.cel_syntax) that knows the event vocabulary: the CEL
    type of ``trigger.payload.x`` when every event type the variable binds that has the
    field gives it the same type. ``system`` is a registration's payload itself."""
    from auditml.policy.cel import envelope_type

    def field_type(variable: str, path: tuple[str, ...]) -> str | None:
        known = envelope_type(variable, path)
        if known is not None or variable not in binds:
            return known
        if path[:1] == ("lineage",):
            described = LINEAGE_FIELDS.get(path[1]) if len(path) == 2 else None
            return None if described is None else described[0]
        if variable != "system":
            if path[:1] != ("payload",):
                return None
            path = path[1:]
        event_types = binds[variable]
        found = {payload_field_type(name, path) for name in sorted(event_types or PAYLOAD_MODELS)}
        found.discard(_ABSENT_FIELD)
        return found.pop() if len(found) == 1 else None

    return field_type


#: `payload_field_type` for a field the event type does not have.
_ABSENT_FIELD = "absent"


def payload_field_type(event_type: str, path: Sequence[str]) -> str | None:
    """The CEL type of payload field ``path`` of `event_type` events as a condition sees
    it (times in a payload are text), None when not known (a free-form object), or
    ``"absent"`` when the event type has no such field."""
    model: type[BaseModel] | None = PAYLOAD_MODELS.get(event_type)
    if model is None or not path:
        return _ABSENT_FIELD if model is None else "map"
    for index, part in enumerate(path):
        info = model.model_fields.get(part)
        if info is None:
            return _ABSENT_FIELD
        if index == len(path) - 1:
            return _cel_type(info.annotation)
        nested = _models_in(info.annotation)
        if not nested:
            return None  # a free-form object, or not an object at all (an error, not a type)
        model = nested[0]
    return None


def _cel_type(annotation: object) -> str | None:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _cel_type(args[0])
    if origin is typing.Literal:
        found = {_cel_type(type(value)) for value in args}
        return found.pop() if len(found) == 1 else None
    if origin in {typing.Union, UnionType}:
        found = {_cel_type(arg) for arg in args if arg is not type(None)}
        return found.pop() if len(found) == 1 else None
    if origin in {list, tuple, set, frozenset} or annotation in {list, tuple, set, frozenset}:
        return "list"
    if origin is dict or annotation is dict:
        return "map"
    if isinstance(annotation, type):
        if issubclass(annotation, bool):
            return "bool"
        if issubclass(annotation, str | datetime):  # payload times stay text in CEL
            return "string"
        if issubclass(annotation, int):
            return "int"
        if issubclass(annotation, float):
            return "double"
        if issubclass(annotation, BaseModel):
            return "map"
    return None


#: How many events of the rule's fixtures each condition is tried on at lint (and pairs).
_SAMPLES = 50


def _sample_problems(
    rule: Rule, source: RuleSource, directory: Path, compiled: Sequence[_Compiled]
) -> Iterator[Problem]:
    """Evaluate each condition on events of the rule's own fixtures: one that gives
    something other than true or false there would stop `auditml check` (a rule error,
    exit 2), so lint refuses it now. Evaluation errors (a missing field) are the data's
    and count as false, as in the engine. Only conditions without comprehensions are
    tried: their cost is linear in the events' size (auditml.policy.cel_syntax), so this
    cannot make lint hang, whatever the fixtures hold."""
    from auditml.policy.engine import fixture_events

    events: list[tuple[str, Any]] = []
    for fixture in dict.fromkeys(test.fixture for test in rule.tests):
        try:
            events.extend(
                (fixture, event) for event in fixture_events(directory / FIXTURES_DIR / fixture)
            )
        except ValidationError:
            continue  # reported with the fixture's own problems
    for item in compiled:
        if item.condition.iterates:
            # A comprehension costs more than linear time in the data it ranges over, and
            # fixtures are written with the rule: its result type is left to the syntax.
            continue
        samples: dict[str, list[tuple[str, Any]]] = {}
        for variable, wanted in item.binds.items():
            fitting = [(f, e) for f, e in events if wanted is None or e.type in wanted]
            samples[variable] = fitting[:_SAMPLES]
        problem = _first_non_bool(item, samples)
        if problem is not None:
            yield Problem(source.file, source.line(item.loc), source.field(item.loc), problem)


def _first_non_bool(item: _Compiled, samples: Mapping[str, list[tuple[str, Any]]]) -> str | None:
    names = list(samples)
    combos: Iterable[tuple[tuple[str, Any], ...]]
    if len(names) == 1:
        combos = ((sample,) for sample in samples[names[0]])
    else:
        combos = ((first, second) for first in samples[names[0]] for second in samples[names[1]])
    for combo in combos:
        bindings = {
            name: dict(event.payload) if name == "system" else event
            for name, (_, event) in zip(names, combo, strict=True)
        }
        try:
            item.condition.evaluate(**bindings)
        except ValidationError as exc:
            shown = ", ".join(
                f"{name} = event {event.seq + 1} of {FIXTURES_DIR}/{fixture}"
                for name, (fixture, event) in zip(names, combo, strict=True)
            )
            return f"{str(exc).removeprefix('condition: ')} (evaluated with {shown})"
    return None


def _any_type_problem(types: frozenset[str] | None, path: str) -> str | None:
    """What is wrong with ``path`` as a field of events of ``types`` (None: any type), or
    None if at least one of them has it (a check judging several types, recorded_late)."""
    names = sorted(PAYLOAD_MODELS if types is None else types)
    messages = [field_problem(name, path) for name in names]
    if any(message is None for message in messages):
        return None
    if len(names) == 1:
        return messages[0]
    return f"none of the event types judged has {path} (e.g. {messages[0]})"


def _test_problems(
    rule: Rule, source: RuleSource, directory: Path, checked: dict[Path, list[Problem]]
) -> Iterator[Problem]:
    expects = {test.expect for test in rule.tests}
    missing = [verdict for verdict in ("pass", "fail") if verdict not in expects]
    if missing:
        loc: Loc = ("tests",) if rule.tests else ("id",)
        yield Problem(
            source.file,
            source.line(loc),
            source.field(("tests",)),
            f"rule {rule.id} needs tests expecting {' and '.join(missing)} "
            f"(each test: name, fixture under {FIXTURES_DIR}/, expect)",
        )
    for index, test in enumerate(rule.tests):
        loc = ("tests", index, "fixture")
        try:
            path = fixture_file(directory, test.fixture)
        except ValidationError as exc:
            yield Problem(source.file, source.line(loc), source.field(loc), str(exc))
            continue
        if not path.is_file():
            yield Problem(
                source.file,
                source.line(loc),
                source.field(loc),
                f"fixture {path} does not exist",
            )
            continue
        if path not in checked:
            checked[path] = _fixture_problems(path)
            yield from checked[path]
        if test.twin is not None and not checked[path]:
            problem = _twin_problem(rule, test, path, directory)
            if problem is not None:
                loc = ("tests", index, "twin")
                yield Problem(source.file, source.line(loc), source.field(loc), problem)


def _twin_problem(rule: Rule, test: RuleTest, path: Path, directory: Path) -> str | None:
    """Why `test.twin` is not a compliant twin of the test's fixture, or None if it is.

    A twin shows that the rule turns on one fact: it is the fixture of a passing test of
    the same rule, and the two files differ in exactly one event (one changed, added or
    removed line, compared as JSON).
    """
    if test.expect == "pass":
        return "a passing test has no twin; name the twin on the test that does not pass"
    passing = {t.fixture for t in rule.tests if t.expect == "pass"}
    if test.twin not in passing:
        return (
            f"twin {test.twin} is not the fixture of a test of rule {rule.id} expecting pass; "
            "add that test or name one of: " + (", ".join(sorted(passing)) or "(none)")
        )
    try:
        mine, theirs = _fixture_lines(path), _fixture_lines(fixture_file(directory, test.twin))
    except (OSError, ValidationError) as exc:
        return f"twin {test.twin} cannot be read: {exc}"
    if not _one_event_apart(mine, theirs):
        return (
            f"twin {test.twin} must differ from {test.fixture} in exactly one event (one "
            "line changed, added or removed), so the verdict is seen to turn on one fact"
        )
    return None


def _fixture_lines(path: Path) -> list[bytes]:
    """The events of a fixture in canonical JSON, one per non-blank line."""
    lines = path.read_bytes().split(b"\n")
    return [canonicalize(parse_json(line, where="event")) for line in lines if line.strip()]


def _one_event_apart(a: list[bytes], b: list[bytes]) -> bool:
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    if len(longer) != len(shorter) + 1:
        return False
    return any(longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer)))


def fixture_file(directory: Path, fixture: str) -> Path:
    """The path of a rule test's fixture: ``fixture`` under the rule folder's fixtures/.

    Raises ValidationError when the path leads outside the rule folder through a
    symbolic link: a rule set is reviewed as one folder, and a test must not read
    files that are not part of it.
    """
    path = directory / FIXTURES_DIR / fixture
    resolved, folder = path.resolve(), directory.resolve()
    if not resolved.is_relative_to(folder):
        raise ValidationError(
            f"fixture {path} is a link to {resolved}, outside the rule folder {directory}; "
            f"copy the file into {directory / FIXTURES_DIR} instead"
        )
    return path


def _fixture_problems(path: Path) -> list[Problem]:
    """Problems of one fixture ledger: each line an event `auditml import` accepts."""
    display = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [Problem(display, None, "", f"cannot read: {exc.strerror}")]
    problems: list[Problem] = []
    events = 0
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        events += 1
        try:
            item = parse_json(line, where="event")
            if not isinstance(item, dict):
                raise ValidationError("event: expected a JSON object with type and payload")
            item = dict(item)
            recorded = item.pop(FIXTURE_RECORDED_AT, None)  # fixture-only: when recorded
            if recorded is not None:
                if not isinstance(recorded, str):
                    raise ValidationError("recorded_at: expected an ISO 8601 time string")
                parse_ledger_time(recorded, where="recorded_at")
            prepare_event(
                item,
                default_system=_FIXTURE_SYSTEM,
                default_actor=_FIXTURE_ACTOR,
                where="event",
            )
        except ValidationError as exc:
            problems.append(Problem(display, number, "", str(exc)))
    if not events:
        problems.append(Problem(display, None, "", "the fixture holds no events"))
    return problems
