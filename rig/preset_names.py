"""What a preset may be called — one rule, checked where a preset is saved.

A name is shown on the page, typed in scripts (``trigger --preset``) and put in URLs
(``/api/presets/{name}``), so it must read as what it is: 1–80 characters, none of them
invisible (control, format or line-separator characters: ``\\x7f``, a right-to-left
override), no space at either end, no ``/`` or ``\\``, and not only dots (``.``, ``..``).
"""

from __future__ import annotations

import unicodedata

MAX_LENGTH = 80
RULE = "use 1–80 visible characters, no space at either end, no / or \\, and not only dots"
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a preset's name (None: it can)."""
    shown = repr(name[:40])
    if not name.strip():
        return f"preset name {shown} is blank: {RULE}"
    if len(name) > MAX_LENGTH:
        return f"preset name is {len(name)} characters long: {RULE}"
    if name != name.strip():
        return f"preset name {shown} starts or ends with a space: {RULE}"
    if any(unicodedata.category(c) in _INVISIBLE for c in name):
        return f"preset name {shown} holds an invisible (control) character: {RULE}"
    if "/" in name or "\\" in name:
        return f"preset name {shown} holds a / or \\: {RULE}"
    if set(name) == {"."}:
        return f"preset name {shown} is only dots: {RULE}"
    return None
