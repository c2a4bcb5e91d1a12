"""The review filter language: ``kw:beach status:pending -kw:people caption:"sunset" new:yes``.

Terms are ANDed by default; ``OR`` (or ``|``) joins alternatives, ``AND`` may be written out, ``-`` or ``NOT`` negates,
parentheses group, double quotes make a phrase (``caption:"evening light"``). Operators are upper case, as in
TagGUI; a lower-case ``or`` is a word. Fields:

    kw:X          has the keyword X (case, spacing and plural ignored; ``kw:animals`` matches ``Animals|Dog``)
    status:S      pending, approved, rejected, committed or stale
    caption:X     caption contains X (case-insensitive);  description:X (or desc:X) likewise
    path:X        the file's path contains X
    new:yes|no    has a keyword new to the library;  edited:yes|no;  proposal:yes|no (a re-tag waits beside edits)
    X             caption, description or a keyword contains X

``parse`` turns text into a tree; ``to_sql`` makes it a WHERE clause over the store's search columns and
``matches`` a Python predicate over a draft. Both read the same columns (``search_columns``), so they agree.
A bad query raises ``QueryError`` naming the column: ``bad query at column 8: unknown field 'colour'``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imageworks.review.drafts import STATUSES, Draft, ReviewError, keyword_key, keyword_keys

SEP = "\x1f"
"""Joins the keywords in a search column; a keyword never holds it."""
FIELDS = ("kw", "status", "caption", "description", "path", "new", "edited", "proposal")
ALIASES = {"keyword": "kw", "desc": "description"}
FLAGS = {"new": "has_new", "edited": "is_edited", "proposal": "has_proposal"}
YES, NO = frozenset({"yes", "y", "true", "1"}), frozenset({"no", "n", "false", "0"})


class QueryError(ReviewError):
    def __init__(self, position: int, message: str) -> None:
        super().__init__(f"bad query at column {position + 1}: {message}")
        self.position = position


@dataclass(frozen=True)
class Term:
    field: str | None
    """None: a bare word or phrase."""
    value: str


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class And:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    nodes: tuple[Node, ...]


Node = Term | Not | And | Or


# --- tokens ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str
    """``(``, ``)``, ``-``, ``AND``, ``OR``, ``NOT`` or ``term``."""
    pos: int
    field: str | None = None
    value: str = ""


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The phrase in quotes at ``text[start]``, and the index after its closing quote."""
    end = text.find('"', start + 1)
    if end < 0:
        raise QueryError(start, "a quote is not closed")
    return text[start + 1 : end], end + 1


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "()|":
            out.append(_Token("OR" if ch == "|" else ch, i))
            i += 1
        elif ch == "-" and i + 1 < len(text) and not text[i + 1].isspace():
            out.append(_Token("-", i))
            i += 1
        elif ch == '"':
            value, i = _quoted(text, i)
            out.append(_Token("term", i - len(value) - 2, value=value))
        else:
            start = i
            while i < len(text) and not text[i].isspace() and text[i] not in '()"|':
                i += 1
            word = text[start:i]
            if word in ("AND", "OR", "NOT"):
                out.append(_Token(word, start))
                continue
            name, colon, value = word.partition(":")
            if not colon:
                out.append(_Token("term", start, value=word))
                continue
            if not value and i < len(text) and text[i] == '"':
                value, i = _quoted(text, i)
            field = ALIASES.get(name.lower(), name.lower())
            out.append(_Token("term", start, field=field, value=value))
    return out


# --- parsing ---------------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def parse(self) -> Node | None:
        if not self.tokens:
            return None
        node = self.alternatives()
        token = self.peek()
        if token is not None:  # only a stray ")" stops alternatives() early
            raise QueryError(token.pos, "unmatched ')'")
        return node

    def alternatives(self) -> Node:
        nodes = [self.sequence()]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.take()
            nodes.append(self.sequence())
        return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))

    def sequence(self) -> Node:
        nodes = [self.unary()]
        while (token := self.peek()) is not None and token.kind not in ("OR", ")"):
            if token.kind == "AND":
                self.take()
            nodes.append(self.unary())
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    def unary(self) -> Node:
        token = self.peek()
        if token is None:
            raise QueryError(len(self.text), "the query ends where a term was expected")
        self.take()
        if token.kind in ("-", "NOT"):
            return Not(self.unary())
        if token.kind == "(":
            node = self.alternatives()
            close = self.peek()
            if close is None or close.kind != ")":
                raise QueryError(token.pos, "'(' is not closed")
            self.take()
            return node
        if token.kind != "term":
            raise QueryError(token.pos, f"{token.kind!r} needs a term before it")
        return _term(token)


def _term(token: _Token) -> Term:
    field, value = token.field, token.value
    if field is not None and field not in FIELDS:
        raise QueryError(token.pos, f"unknown field {field!r} (known: {', '.join(FIELDS)})")
    if not value.strip():
        raise QueryError(token.pos, f"{field or 'a phrase'} needs a value")
    if field == "status" and value.lower() not in STATUSES:
        raise QueryError(token.pos, f"unknown status {value!r} (known: {', '.join(STATUSES)})")
    if field in FLAGS and value.lower() not in YES | NO:
        raise QueryError(token.pos, f"{field}: takes yes or no, not {value!r}")
    if field == "kw" and not keyword_key(value):
        raise QueryError(token.pos, "kw needs a keyword")
    return Term(field, value)


def parse(text: str) -> Node | None:
    """The query tree of ``text``; None for an empty query (every draft). Raises ``QueryError``."""
    return _Parser(text).parse()


def unparse(node: Node | None) -> str:
    """Query text that parses back to ``node`` (a canonical form: fields spelled out, values quoted)."""
    if node is None:
        return ""
    if isinstance(node, Term):
        value = '"' + node.value + '"'
        return value if node.field is None else f"{node.field}:{value}"
    if isinstance(node, Not):
        return f"NOT ({unparse(node.node)})"
    joiner = " OR " if isinstance(node, Or) else " AND "
    return joiner.join(f"({unparse(n)})" for n in node.nodes)


# --- the two evaluations ---------------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Casefolded, and safe to store as SQLite text (a non-UTF-8 file name's escapes become U+FFFD)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").casefold()


def search_columns(draft: Draft) -> dict[str, Any]:
    """The columns a query reads, from the draft's edited values: the store writes them, ``matches`` reads them."""
    kept = [k.keyword for k in draft.edited.keywords if k.state != "rejected"]
    keys = dict.fromkeys(key for keyword in kept for key in keyword_keys(keyword))
    return {
        "status": draft.status,
        "caption_fold": _fold(draft.edited.caption),
        "description_fold": _fold(draft.edited.description),
        "path_fold": _fold(draft.path),
        "keywords_fold": SEP + SEP.join(_fold(k) for k in kept) + SEP,
        "keyword_keys": SEP + SEP.join(keys) + SEP,
        "has_new": int(draft.has_new_keywords),
        "is_edited": int(draft.is_edited),
        "has_proposal": int(draft.proposal is not None),
    }


def _term_test(term: Term) -> tuple[str, list[Any], Any]:
    """(SQL, params, predicate over search columns) for one term."""
    field, value = term.field, term.value
    if field == "kw":
        needle = SEP + keyword_key(value) + SEP
        return "instr(keyword_keys, ?) > 0", [needle], lambda c: needle in c["keyword_keys"]
    if field == "status":
        status = value.lower()
        return "status = ?", [status], lambda c: c["status"] == status
    if field in FLAGS:
        column, flag = FLAGS[field], int(value.lower() in YES)
        return f"{column} = ?", [flag], lambda c: c[column] == flag
    needle = _fold(value)
    columns = [f"{field}_fold"] if field else ["caption_fold", "description_fold", "keywords_fold"]
    sql = " OR ".join(f"instr({column}, ?) > 0" for column in columns)
    return f"({sql})", [needle] * len(columns), lambda c: any(needle in c[column] for column in columns)


def to_sql(node: Node | None) -> tuple[str, list[Any]]:
    """A WHERE clause (without the word) and its parameters; ``1`` for every draft."""
    if node is None:
        return "1", []
    if isinstance(node, Term):
        sql, params, _ = _term_test(node)
        return sql, params
    if isinstance(node, Not):
        sql, params = to_sql(node.node)
        return f"NOT ({sql})", params
    parts = [to_sql(n) for n in node.nodes]
    joiner = " OR " if isinstance(node, Or) else " AND "
    return joiner.join(f"({sql})" for sql, _ in parts), [p for _, params in parts for p in params]


def matches_columns(node: Node | None, columns: dict[str, Any]) -> bool:
    if node is None:
        return True
    if isinstance(node, Term):
        return bool(_term_test(node)[2](columns))
    if isinstance(node, Not):
        return not matches_columns(node.node, columns)
    if isinstance(node, Or):
        return any(matches_columns(n, columns) for n in node.nodes)
    return all(matches_columns(n, columns) for n in node.nodes)


def matches(node: Node | None, draft: Draft) -> bool:
    """The Python predicate: does ``draft`` match the query? (The same answer as ``to_sql`` in the store.)"""
    return matches_columns(node, search_columns(draft))
