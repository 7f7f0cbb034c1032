"""The tag rule language: a small expression syntax business staff can read, parsed with `lark`.

    count(orders, 30d) >= 3
    sum(orders.total_amount, 365d) >= 30000 and sum(orders.total_amount, 365d) < 100000
    age >= 26 and age <= 35
    city_tier = "一线" and not has_tag("vip")
    days_since(orders) >= @churn_days
    sum(items.amount, 365d, line="SW") >= 0.4 * sum(items.amount, 365d)

`and`/`or`/`not` (also 且/或/非), comparisons `= != > >= < <=`, `in [..]`, `is empty`, `is not empty`,
`contains "…"`, `has_tag("code")`, `grade in ["A","B"]`, arithmetic `+ - * /`, `@parameter`s.
Windows: `30d` (days), `3m` (months = 30 days), `1y` (365 days); none = all time.
Parsing gives a syntax tree with positions; `kehu.tags.compiler` checks names and turns it into SQL.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from decimal import Decimal
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from kehu.errors import FieldError, ValidationFailed

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr | or_expr OR and_expr -> or_
?and_expr: not_expr | and_expr AND not_expr -> and_
?not_expr: NOT not_expr -> not_ | test
?test: sum COMP sum -> compare
     | sum IN list -> in_
     | sum NOT IN list -> not_in
     | sum IS EMPTY -> is_empty
     | sum IS NOT EMPTY -> not_empty
     | sum CONTAINS STRING -> contains
     | sum -> truthy
     | "(" or_expr ")"
?sum: product | sum ADDOP product -> arith
?product: atom | product MULOP atom -> arith
?atom: NUMBER -> number
     | STRING -> string
     | PARAM -> param
     | NAME "(" [farg ("," farg)*] ")" -> call
     | NAME -> name
?farg: ref | WINDOW -> window | NAME "=" literal -> kwarg | STRING -> string
ref: NAME "." NAME | NAME
?literal: NUMBER -> number | STRING -> string
list: "[" [literal ("," literal)*] "]"

OR.2: /or\b/i | "或"
AND.2: /and\b/i | "且" | "并且"
NOT.2: /not\b/i | "非"
IN.2: /in\b/i
IS.2: /is\b/i
EMPTY.2: /empty\b/i
CONTAINS.2: /contains\b/i
COMP: ">=" | "<=" | "!=" | "=" | ">" | "<" | "≥" | "≤"
ADDOP: "+" | "-"
MULOP: "*" | "/"
WINDOW.3: /\d+(d|m|y|天|个月|年)(?![A-Za-z0-9_])/
NUMBER: /-?\d+(\.\d+)?/
STRING: /"[^"\n]*"/
PARAM: /@[A-Za-z_][A-Za-z0-9_.]*/
NAME: /[A-Za-z_][A-Za-z0-9_]*/
%import common.WS
%ignore WS
"""

_parser = Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)


@dataclass(frozen=True)
class Node:
    """A node of the rule tree: kind, arguments and its position (line, column) in the text."""

    kind: str
    args: tuple = ()
    line: int = 1
    column: int = 1
    meta: dict = field(default_factory=dict, compare=False, hash=False)


def _pos(tok: Any) -> tuple[int, int]:
    if isinstance(tok, Token):
        return tok.line or 1, tok.column or 1
    if isinstance(tok, Node):
        return tok.line, tok.column
    return 1, 1


_WINDOW_UNITS = {"d": 1, "天": 1, "m": 30, "个月": 30, "y": 365, "年": 365}
_COMP_ALIASES = {"≥": ">=", "≤": "<="}


@v_args(inline=True)
class _ToNodes(Transformer):
    def number(self, tok):
        return Node("num", (Decimal(str(tok)),), *_pos(tok))

    def string(self, tok):
        return Node("str", (str(tok)[1:-1],), *_pos(tok))

    def param(self, tok):
        return Node("param", (str(tok)[1:],), *_pos(tok))

    def name(self, tok):
        return Node("name", (str(tok),), *_pos(tok))

    def window(self, tok):
        text = str(tok)
        digits = "".join(ch for ch in text if ch.isdigit())
        unit = text[len(digits):]
        return Node("window", (int(digits) * _WINDOW_UNITS[unit],), *_pos(tok))

    def ref(self, *toks):
        return Node("ref", tuple(str(t) for t in toks), *_pos(toks[0]))

    def kwarg(self, key, value):
        return Node("kwarg", (str(key), value), *_pos(key))

    def call(self, fname, *args):
        return Node("call", (str(fname), *[a for a in args if a is not None]), *_pos(fname))

    def arith(self, left, op, right):
        return Node("arith", (str(op), left, right), *_pos(left))

    def compare(self, left, op, right):
        return Node("compare", (_COMP_ALIASES.get(str(op), str(op)), left, right), *_pos(left))

    def in_(self, left, _kw, values):
        return Node("in", (left, values), *_pos(left))

    def not_in(self, left, _not, _in, values):
        return Node("not", (Node("in", (left, values), *_pos(left)),), *_pos(left))

    def is_empty(self, left, _is, _empty):
        return Node("empty", (left,), *_pos(left))

    def not_empty(self, left, _is, _not, _empty):
        return Node("not", (Node("empty", (left,), *_pos(left)),), *_pos(left))

    def contains(self, left, _kw, value):
        return Node("contains", (left, str(value)[1:-1]), *_pos(left))

    def list(self, *items):
        items = [i for i in items if i is not None]
        return Node("list", tuple(items), *(_pos(items[0]) if items else (1, 1)))

    def truthy(self, inner):
        return Node("truthy", (inner,), *_pos(inner))

    def and_(self, left, _op, right):
        return Node("and", (left, right), *_pos(left))

    def or_(self, left, _op, right):
        return Node("or", (left, right), *_pos(left))

    def not_(self, op, inner):
        return Node("not", (inner,), *_pos(op))


class RuleError(ValidationFailed):
    """A rule that does not parse or check: each message names the line and column (Chinese)."""

    def __init__(self, problems: list[tuple[int, int, str]], *, field_name: str = "expression"):
        self.problems = problems
        super().__init__([FieldError(field_name, "rule_invalid", f"第{line}行第{col}列：{msg}")
                          for line, col, msg in problems])


_EXPECT_ZH = {"NUMBER": "数字", "STRING": "带引号的文字", "NAME": "字段或函数名", "COMP": "比较符号（=、>=、< 等）",
              "RPAR": "右括号 )", "LPAR": "左括号 (", "RSQB": "右方括号 ]", "COMMA": "逗号", "AND": "and",
              "OR": "or", "IN": "in", "IS": "is", "WINDOW": "时间窗口（如 90d）", "PARAM": "参数（如 @churn_days）",
              "$END": "规则结束", "ADDOP": "加减号（+ -）", "MULOP": "乘除号（* /）", "NOT": "not",
              "CONTAINS": "contains", "EMPTY": "empty", "DOT": "点号 .", "EQUAL": "等号 =", "LSQB": "左方括号 [",
              "WS": "空格"}  # every terminal of the grammar: a token name never reaches the user


@lru_cache(maxsize=4096)
def parse(text: str) -> Node:
    """The syntax tree of a rule; RuleError with line, column and a Chinese message when it does not parse.

    Cached per text (rules are re-read on every real-time evaluation); the tree is never mutated after
    checking, except for the aggregate noted on a call node, which depends only on the text and parameters.
    """
    if not text or not text.strip():
        raise RuleError([(1, 1, "规则不能为空")])
    try:
        tree = _parser.parse(text)
    except UnexpectedCharacters as exc:
        raise RuleError([(exc.line, exc.column, f"无法识别的字符「{text[exc.pos_in_stream]}」")]) from None
    except UnexpectedEOF as exc:
        line, col = _end(text)
        raise RuleError([(line, col, "规则不完整，" + _expected(exc.expected))]) from None
    except UnexpectedToken as exc:
        if exc.token.type == "$END":
            line, col = _end(text)
            raise RuleError([(line, col, "规则不完整，" + _expected(exc.expected))]) from None
        raise RuleError([(exc.line, exc.column, f"此处不应出现「{exc.token}」，" + _expected(exc.expected))]) from None
    except UnexpectedInput as exc:  # pragma: no cover - other lark errors carry a position too
        raise RuleError([(getattr(exc, "line", 1), getattr(exc, "column", 1), "规则格式错误")]) from None
    return _ToNodes().transform(tree)


def _end(text: str) -> tuple[int, int]:
    lines = text.rstrip().split("\n")
    return len(lines), len(lines[-1]) + 1


def _expected(names: set[str]) -> str:
    shown = sorted({_EXPECT_ZH.get(n, n) for n in names if not n.startswith("__")})
    return "应为：" + "、".join(shown) if shown else "请检查语法"
