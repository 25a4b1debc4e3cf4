"""The shape of a CEL condition, read before the `cel` package sees it: what it may cost.

Rule files are written by people, not by us, and the `cel` package (Rust) has no cost or
depth limit of its own: a chain of 15,000 `+` overflows its stack when evaluated (SIGSEGV:
the process dies, no error), comprehensions over lists the expression builds itself
(``[0, .., 9].map(a, [0, .., 9].map(b, ...))``, eight deep) run for hours, and a 1 MB
expression compiles. So every condition is first parsed here, by a small recursive-descent
parser of the CEL grammar (cel-spec ``langdef.md``), and refused unless:

- it is at most `MAX_SOURCE_CHARS` characters long;
- its syntax tree is at most `MAX_DEPTH` levels deep: each operator, parenthesis, call,
  field access, index, list and map adds a level; a chain of ``&&`` or ``||`` counts as a
  balanced tree (as the `cel` package builds it), so long lists of alternatives stay cheap;
- each comprehension (``all``, ``exists``, ``exists_one``, ``map``, ``filter``) is a method
  of a field of the events (``trigger.payload.purposes.exists(p, ...)``), never of a list
  or map the expression writes or computes, and none is nested in another
  (`MAX_COMPREHENSION_NESTING`).

Why this bounds the cost: without comprehensions each node of the tree is evaluated once,
and no value is larger than the sum of what its leaves read, so a condition costs at most
its length times the size of the events it reads, whatever the rule file says. A
comprehension repeats its body once per element of an event's field; an operation on a
list inside it (``p in candidate.payload.purposes``) makes that quadratic in the size of
the events (bounded in the ledger by ``max_payload_bytes``), and each further level of
nesting would multiply it again (a comprehension iteration costs about a microsecond:
two nested over a list of 1,000 items already take a second). The vocabulary's lists are
flat lists of text, so one level is what rules need. Nothing here evaluates anything.

`result_type` says what a condition gives where the syntax (and, given a `FieldType`, the
event vocabulary) shows it, so that a condition that can never be true or false is refused
when it is compiled, not met at evaluation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

__all__ = [
    "COMPREHENSIONS",
    "MAX_COMPREHENSION_NESTING",
    "MAX_DEPTH",
    "MAX_SOURCE_CHARS",
    "CelBoundError",
    "CelSyntaxError",
    "FieldType",
    "Node",
    "check_bounds",
    "describe",
    "parse",
    "result_type",
]

#: The longest condition accepted, in characters. The longest shipped condition has 205;
#: twenty times that leaves room for any condition a person can still read.
MAX_SOURCE_CHARS = 4096
#: The deepest syntax tree accepted. Shipped conditions are at most 10 deep; the `cel`
#: package's own parser stops at 96 nested parentheses, and its evaluator crashes the
#: process (stack overflow) at about 12,000 levels of `+`.
MAX_DEPTH = 32
#: How deeply comprehensions may nest. The event vocabulary's lists hold text, not lists;
#: ``a.exists(x, b.exists(y, x == y))`` is ``a.exists(x, x in b)``, and each more level
#: multiplies the cost by the length of another list.
MAX_COMPREHENSION_NESTING = 1

#: CEL's comprehension macros, with the numbers of arguments each takes.
COMPREHENSIONS = {
    "all": (2,),
    "exists": (2,),
    "exists_one": (2,),
    "filter": (2,),
    "map": (2, 3),
}

#: What a field gives, by (variable, path below it); None when not known.
FieldType = Callable[[str, tuple[str, ...]], str | None]


class CelSyntaxError(Exception):
    """The source is not CEL that this parser reads; `offset` is where it went wrong."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class CelBoundError(Exception):
    """The source is CEL, but costs more than a rule's condition may (a message to show)."""


# --------------------------------------------------------------------------- #
# Tokens                                                                       #
# --------------------------------------------------------------------------- #

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\n\r\f]+|//[^\n]*)
  | (?P<string>[bB]?(?:
        [rR](?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"[^"\n\r]*"|'[^'\n\r]*')
      | \"\"\"(?:\\[\s\S]|[^\\])*?\"\"\"
      | '''(?:\\[\s\S]|[^\\])*?'''
      | "(?:\\.|[^"\\\n\r])*"
      | '(?:\\.|[^'\\\n\r])*'
    ))
  | (?P<double>(?:\d+\.\d+|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
  | (?P<uint>(?:0[xX][0-9a-fA-F]+|\d+)[uU])
  | (?P<int>0[xX][0-9a-fA-F]+|\d+)
  | (?P<ident>[_a-zA-Z][_a-zA-Z0-9]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/%!<>?:.,\[\](){}])
    """,
    re.VERBOSE,
)
_LITERAL_WORDS = {"true": "bool", "false": "bool", "null": "null"}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    offset: int


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            raise CelSyntaxError(f"unexpected character {source[position]!r}", position)
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    tokens.append(_Token("end", "", len(source)))
    return tokens


# --------------------------------------------------------------------------- #
# The syntax tree                                                              #
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class Node:
    """One node of a condition's syntax tree.

    `kind` is literal (`name` is its type: int, uint, double, string, bytes, bool, null;
    `text` its source), ident, select (`name` is the field), index, call (`name` is the
    function; `target` the receiver of a method call), list, map, struct, unary, binary or
    ternary (`name` is the operator). `height` is the depth of the tree below and
    including it; `offset` where it starts in the source.
    """

    kind: str
    name: str
    args: tuple[Node, ...]
    target: Node | None
    offset: int
    height: int
    text: str = ""


def _node(
    kind: str,
    name: str,
    args: Sequence[Node],
    offset: int,
    target: Node | None = None,
    text: str = "",
) -> Node:
    below = [child.height for child in args]
    if target is not None:
        below.append(target.height)
    height = 1 + max(below, default=0)
    return _checked(Node(kind, name, tuple(args), target, offset, height, text))


def _checked(node: Node) -> Node:
    if node.height > MAX_DEPTH:
        raise CelBoundError(
            f"it nests more than {MAX_DEPTH} levels deep (at character {node.offset + 1}; "
            "operators, parentheses, calls and field accesses each add a level); split it "
            "into simpler conditions, or write a list of alternatives as `x in [a, b, c]`"
        )
    return node


_LEVELS: tuple[tuple[str, ...], ...] = (
    ("||",),
    ("&&",),
    ("==", "!=", "<", "<=", ">", ">=", "in"),
    ("+", "-"),
    ("*", "/", "%"),
)


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokenize(source)
        self.position = 0
        self.nesting = 0

    # -- tokens

    def peek(self) -> _Token:
        return self.tokens[self.position]

    def take(self) -> _Token:
        token = self.tokens[self.position]
        if token.kind != "end":
            self.position += 1
        return token

    def at(self, *texts: str) -> bool:
        token = self.peek()
        return token.kind in {"op", "ident"} and token.text in texts

    def expect(self, text: str) -> _Token:
        token = self.peek()
        if token.kind in {"op", "ident"} and token.text == text:
            return self.take()
        raise self.error(f"expected {text!r}")

    def error(self, wanted: str) -> CelSyntaxError:
        token = self.peek()
        found = "the end" if token.kind == "end" else repr(token.text)
        return CelSyntaxError(f"{wanted}, found {found}", token.offset)

    # -- grammar

    def parse(self) -> Node:
        node = self.expr()
        if self.peek().kind != "end":
            raise self.error("expected an operator or the end")
        return node

    def expr(self) -> Node:
        # Every nested expression passes here: counting them bounds this parser's own
        # recursion (about ten Python frames a level) before the tree's height is known.
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise CelBoundError(
                f"it nests more than {MAX_DEPTH} levels deep (at character "
                f"{self.peek().offset + 1}); split it into simpler conditions"
            )
        try:
            start = self.peek().offset
            condition = self.binary(0)
            if not self.at("?"):
                return condition
            self.take()
            yes = self.binary(0)
            self.expect(":")
            no = self.expr()
            return _node("ternary", "?:", (condition, yes, no), start)
        finally:
            self.nesting -= 1

    def binary(self, level: int) -> Node:
        if level == len(_LEVELS):
            return self.unary()
        operators = _LEVELS[level]
        left = self.binary(level + 1)
        if operators in {("||",), ("&&",)}:
            # The cel package balances chains of && and || (as cel-go does).
            operands = [left]
            while self.at(*operators):
                self.take()
                operands.append(self.binary(level + 1))
            if len(operands) == 1:
                return left
            height = max(o.height for o in operands) + math.ceil(math.log2(len(operands)))
            return _checked(
                Node("binary", operators[0], tuple(operands), None, left.offset, height)
            )
        while self.at(*operators):
            operator = self.take()
            right = self.binary(level + 1)
            left = _node("binary", operator.text, (left, right), operator.offset)
        return left

    def unary(self) -> Node:
        operators: list[_Token] = []
        while self.at("!", "-"):
            operators.append(self.take())
        node = self.member()
        for operator in reversed(operators):
            node = _node("unary", operator.text, (node,), operator.offset)
        return node

    def member(self) -> Node:
        node = self.primary()
        while True:
            if self.at("."):
                dot = self.take()
                name = self.take()
                if name.kind != "ident" or name.text in _LITERAL_WORDS or name.text == "in":
                    raise CelSyntaxError("expected a field name after '.'", name.offset)
                if self.at("("):
                    args = self.arguments()
                    node = _node("call", name.text, args, dot.offset, target=node)
                else:
                    node = _node("select", name.text, (), dot.offset, target=node)
            elif self.at("["):
                bracket = self.take()
                index = self.expr()
                self.expect("]")
                node = _node("index", "[]", (node, index), bracket.offset)
            elif self.at("{") and _qualified_name(node):
                node = self.struct(node)
            else:
                return node

    def primary(self) -> Node:
        token = self.peek()
        if token.kind in {"int", "uint", "double", "string"}:
            self.take()
            kind = token.kind
            if kind == "string" and token.text[:1] in {"b", "B"}:
                kind = "bytes"
            return _node("literal", kind, (), token.offset, text=token.text)
        if token.kind == "ident" and token.text != "in":
            self.take()
            if token.text in _LITERAL_WORDS:
                return _node("literal", _LITERAL_WORDS[token.text], (), token.offset)
            if self.at("("):
                return _node("call", token.text, self.arguments(), token.offset)
            return _node("ident", token.text, (), token.offset)
        if token.kind == "op" and token.text in {".", "(", "[", "{"}:
            self.take()
            if token.text == ".":
                name = self.take()  # a name from the root scope: `.trigger`
                if name.kind != "ident":
                    raise CelSyntaxError("expected a name after '.'", name.offset)
                return _node("ident", "." + name.text, (), token.offset)
            if token.text == "(":
                inner = self.expr()
                self.expect(")")
                return _checked(replace(inner, height=inner.height + 1))
            if token.text == "[":
                return _node("list", "[]", self.items("]", pairs=False), token.offset)
            return _node("map", "{}", self.items("}", pairs=True), token.offset)
        raise self.error("expected a value")

    def arguments(self) -> list[Node]:
        self.expect("(")
        args: list[Node] = []
        if self.at(")"):
            self.take()
            return args
        while True:
            args.append(self.expr())
            if self.at(")"):
                self.take()
                return args
            self.expect(",")

    def items(self, close: str, *, pairs: bool) -> list[Node]:
        """List elements or map entries (key and value in turn); a trailing comma is allowed."""
        items: list[Node] = []
        while not self.at(close):
            items.append(self.expr())
            if pairs:
                self.expect(":")
                items.append(self.expr())
            if not self.at(","):
                break
            self.take()
        self.expect(close)
        return items

    def struct(self, name: Node) -> Node:
        """A message construction, ``a.b.Message{field: value}``: parsed to be refused."""
        self.expect("{")
        values: list[Node] = []
        while not self.at("}"):
            field = self.take()
            if field.kind != "ident":
                raise CelSyntaxError("expected a field name", field.offset)
            self.expect(":")
            values.append(self.expr())
            if not self.at(","):
                break
            self.take()
        self.expect("}")
        return _node("struct", "{}", values, name.offset, target=name)


def _qualified_name(node: Node) -> bool:
    while node.kind == "select" and node.target is not None:
        node = node.target
    return node.kind == "ident"


def parse(source: str) -> Node:
    """The syntax tree of CEL `source`.

    Raises CelBoundError when it is longer than `MAX_SOURCE_CHARS` or nests deeper than
    `MAX_DEPTH` (checked as it is read, so no input exhausts the stack), CelSyntaxError
    when it is not CEL.
    """
    if len(source) > MAX_SOURCE_CHARS:
        raise CelBoundError(
            f"it is {len(source):,} characters long; a condition may have at most "
            f"{MAX_SOURCE_CHARS:,}: split the check, or simplify the condition"
        )
    return _Parser(source).parse()


# --------------------------------------------------------------------------- #
# Comprehensions                                                               #
# --------------------------------------------------------------------------- #


def check_bounds(tree: Node) -> int:
    """Refuse comprehensions whose cost the rule file, not the events, would decide, and
    return how deeply comprehensions nest in `tree` (0: none).

    Each comprehension must be a method of a field path (of a variable of the condition
    or of an enclosing comprehension), nest at most `MAX_COMPREHENSION_NESTING` deep,
    and be written in the macro form. Message construction is refused too: rule
    conditions have no message types. Raises CelBoundError.
    """
    return _walk(tree, 0)


def _walk(node: Node, nesting: int) -> int:
    if node.kind == "struct":
        raise CelBoundError(
            f"message construction (`Name{{field: value}}`, at character {node.offset + 1}) "
            "is not available in rule conditions; compare fields of the events instead"
        )
    if node.kind == "call" and node.name in COMPREHENSIONS:
        return _comprehension(node, nesting)
    deepest = nesting
    for child in (node.target, *node.args):
        if child is not None:
            deepest = max(deepest, _walk(child, nesting))
    return deepest


def _comprehension(node: Node, nesting: int) -> int:
    name, where = node.name, f"at character {node.offset + 1}"
    counts = COMPREHENSIONS[name]
    form = "x, condition" if name != "map" else "x, value"
    if (
        node.target is None
        or len(node.args) not in counts
        or node.args[0].kind != "ident"
        or node.args[0].name.startswith(".")
    ):
        raise CelBoundError(
            f"`{name}` ({where}) is a comprehension: write it as a method of an event's "
            f"list field, e.g. trigger.payload.purposes.{name}({form})"
        )
    if not _field_path(node.target):
        raise CelBoundError(
            f"`.{name}()` ({where}) ranges over a value the condition computes or writes; "
            "a comprehension may only range over a field of the events, e.g. "
            f"trigger.payload.purposes.{name}(p, ...). For a fixed list write "
            '`value in ["a", "b"]`'
        )
    if nesting + 1 > MAX_COMPREHENSION_NESTING:
        raise CelBoundError(
            f"`.{name}()` ({where}) is nested inside another comprehension; at most "
            f"{MAX_COMPREHENSION_NESTING} level is allowed, as each level multiplies the "
            "cost by the length of a list: test membership with `in` instead, e.g. "
            "trigger.payload.purposes.all(p, p in candidate.payload.purposes)"
        )
    deepest = _walk(node.target, nesting)
    for child in node.args[1:]:
        deepest = max(deepest, _walk(child, nesting + 1))
    return deepest


def _field_path(node: Node) -> bool:
    """`trigger.payload.items`, `item.tags`, `trigger.payload["tags"]`: data, not computed.

    Any name may be the root: a name that is neither a variable of the condition nor a
    comprehension's is refused as an unknown variable (auditml.policy.cel).
    """
    while True:
        if node.kind == "ident":
            return True
        if node.kind == "select" and node.target is not None:
            node = node.target
        elif node.kind == "index" and node.args[1].kind == "literal":
            node = node.args[0]
        else:
            return False


# --------------------------------------------------------------------------- #
# Result types                                                                 #
# --------------------------------------------------------------------------- #

_BOOL_CALLS = frozenset(
    {"has", "all", "exists", "exists_one", "contains", "startsWith", "endsWith", "matches", "bool"}
)
_TYPED_CALLS = {
    "size": "int",
    "int": "int",
    "uint": "uint",
    "double": "double",
    "string": "string",
    "bytes": "bytes",
    "duration": "duration",
    "timestamp": "timestamp",
    "type": "type",
    "map": "list",
    "filter": "list",
    "getFullYear": "int",
    "getMonth": "int",
    "getDate": "int",
    "getDayOfMonth": "int",
    "getDayOfWeek": "int",
    "getDayOfYear": "int",
    "getHours": "int",
    "getMinutes": "int",
    "getSeconds": "int",
    "getMilliseconds": "int",
}
_RELATIONS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in", "&&", "||"})
#: What an arithmetic operator gives when its operands' types are not known.
_ARITHMETIC = "a number, text, list, time or duration"


def result_type(
    tree: Node, variables: Sequence[str], field_type: FieldType | None = None
) -> str | None:
    """What `tree` gives: "bool", another CEL type name, or None when the syntax does not
    show it (a field of unknown type, a comprehension variable).

    A field path rooted at one of `variables` is typed by `field_type(variable, path)`.
    """
    return _type(tree, frozenset(variables), field_type)


def _type(node: Node, variables: frozenset[str], field_type: FieldType | None) -> str | None:
    kind = node.kind
    if kind == "literal":
        return node.name
    if kind in {"list", "map"}:
        return kind
    if kind == "unary":
        return "bool" if node.name == "!" else _numeric(_type(node.args[0], variables, field_type))
    if kind == "binary":
        if node.name in _RELATIONS:
            return "bool"
        left = _type(node.args[0], variables, field_type)
        right = _type(node.args[1], variables, field_type)
        if left is not None and left != "bool":
            return left
        if right is not None and right != "bool":
            return right
        return _ARITHMETIC
    if kind == "ternary":
        yes = _type(node.args[1], variables, field_type)
        no = _type(node.args[2], variables, field_type)
        for branch in (yes, no):
            if branch is not None and branch != "bool":
                return branch
        return "bool" if yes == no == "bool" else None
    if kind == "call":
        if node.name in _BOOL_CALLS:
            return "bool"
        if node.name == "dyn" and len(node.args) == 1:
            return _type(node.args[0], variables, field_type)
        return _TYPED_CALLS.get(node.name)
    path = _path(node)
    if path is None or field_type is None or path[0] not in variables:
        return None
    return field_type(path[0], path[1:])


def _numeric(inner: str | None) -> str:
    return inner if inner in {"int", "double", "duration"} else "a number"


def describe(type_name: str) -> str:
    """A type for a message: "int" -> "an int", "a number" stays."""
    if " " in type_name:
        return type_name
    return f"{'an' if type_name[0] in 'aeiou' else 'a'} {type_name}"


_PLAIN_KEY = re.compile(r"""(["'])([A-Za-z_][A-Za-z0-9_]*)\1""")


def _path(node: Node) -> tuple[str, ...] | None:
    """``trigger.payload["kind"]`` -> ("trigger", "payload", "kind"); None if not a path."""
    parts: list[str] = []
    while True:
        if node.kind == "ident":
            return (node.name, *reversed(parts))
        if node.kind == "select" and node.target is not None:
            parts.append(node.name)
            node = node.target
        elif node.kind == "index" and (key := _PLAIN_KEY.fullmatch(node.args[1].text)):
            parts.append(key.group(2))
            node = node.args[0]
        else:
            return None
