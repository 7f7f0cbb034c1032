"""Pinyin keys for searching Chinese names by full pinyin or initials (pypinyin)."""
from __future__ import annotations

import re

from pypinyin import Style, lazy_pinyin

_NON_ALNUM = re.compile(r"[^0-9a-z]")


def pinyin_keys(text: str) -> tuple[str, str]:
    """('zhangsan', 'zs') for '张三'; latin letters and digits pass through lower-cased."""
    full = "".join(lazy_pinyin(text, errors="default")).lower()
    initials = "".join(lazy_pinyin(text, style=Style.FIRST_LETTER, errors="default")).lower()
    return _NON_ALNUM.sub("", full), _NON_ALNUM.sub("", initials)
