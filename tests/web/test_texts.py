"""Every UI text comes from the locale table, and every key the UI asks for exists."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from kehu.web.i18n import LOCALES, ZH_CN

SRC = Path(__file__).resolve().parents[2] / "src" / "kehu"
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
KEY_CALL = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_.]+)["']""")
WEB_FILES = [*(SRC / "templates").rglob("*.html"), *(SRC / "web").glob("*.py"), *(SRC / "static").glob("*.js"),
             *SRC.glob("*/web.py"), SRC / "interactions" / "tabs.py"]


def _texts(path: Path) -> list[str]:
    """What a file could show a user: string literals of code (not docstrings), templates without comments."""
    source = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        tree = ast.parse(source)
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                and n.body and isinstance(n.body[0], ast.Expr)}
        return [n.value for n in ast.walk(tree)
                if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]
    if path.suffix == ".js":
        return [re.sub(r"/\*.*?\*/|//[^\n]*", "", source, flags=re.S)]
    return [re.sub(r"\{#.*?#\}", "", source, flags=re.S)]


def test_no_text_outside_the_locale_table():
    offenders = [str(p.relative_to(SRC)) for p in WEB_FILES if p.name != "i18n.py"
                 if any(CJK.search(text) for text in _texts(p))]
    assert offenders == []


def test_every_key_used_exists():
    used = {k for p in WEB_FILES for k in KEY_CALL.findall(p.read_text(encoding="utf-8"))}
    assert used, "no t(...) calls found"
    assert sorted(used - ZH_CN.keys()) == []


def test_every_locale_has_the_same_keys():
    for name, table in LOCALES.items():
        assert table.keys() == ZH_CN.keys(), name


def test_domain_values_shown_by_the_ui_have_texts():
    from kehu.customers.repository import SORTS
    from kehu.customers.service import CHILDREN
    from kehu.kit.masking import RULES
    from kehu.web.view import SECTIONS

    wanted = ([f"sort.{k}" for k in SORTS] + [f"mask.{k}" for k in RULES] + [f"entity.{e}" for e in CHILDREN]
              + [f"section.{k}" for k, _ in SECTIONS] + [f"op.{k}" for k in ("create", "update", "delete")])
    assert sorted(set(wanted) - ZH_CN.keys()) == []
