"""The report's words: one message catalogue per language (gpubench/report/messages/<lang>.toml).

Every heading, explanation, caption, table header and verdict sentence the report shows comes from a
catalogue, so a third language is one more file. Numbers and units stay as they are. A key missing in a
language falls back to English (tests check that Hungarian has every English key).

    msg = load_messages("hu")
    msg("verdict.faster", device="RTX 4090", times="3.2")
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from gpubench.errors import GpubenchError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MESSAGES_DIR = Path(__file__).with_name("messages")
DEFAULT_LANG = "en"


def languages() -> list[str]:
    """Language codes that have a catalogue, default first."""
    found = sorted(p.stem for p in MESSAGES_DIR.glob("*.toml"))
    return sorted(found, key=lambda code: code != DEFAULT_LANG)


def _flatten(prefix: str, table: Mapping[str, Any], out: dict[str, str]) -> None:
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            _flatten(name, value, out)
        elif isinstance(value, list):
            out[name] = "\n".join(str(v) for v in value)  # a list is a sequence of paragraphs
        else:
            out[name] = str(value)


@lru_cache(maxsize=8)
def _catalogue(lang: str) -> dict[str, str]:
    path = MESSAGES_DIR / f"{lang}.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise GpubenchError(f"{path}: {e}") from e
    out: dict[str, str] = {}
    _flatten("", raw, out)
    return out


class Messages:
    """Look up and format report texts in one language: `msg(key, **values)`; `msg.has(key)`."""

    def __init__(self, lang: str = DEFAULT_LANG) -> None:
        if lang not in languages():
            raise GpubenchError(f"--lang {lang!r}: not one of {', '.join(languages())}")
        self.lang = lang
        self._own = _catalogue(lang)
        self._fallback = _catalogue(DEFAULT_LANG)

    def has(self, key: str) -> bool:
        """Whether the key exists (in this language or in English)."""
        return key in self._own or key in self._fallback

    def __call__(self, key: str, default: str | None = None, **values: Any) -> str:
        """The text for `key` with `{name}` fields filled from `values`. An unknown key returns `default`
        (or the key itself, so a missing text is visible, never a crash)."""
        text = self._own.get(key, self._fallback.get(key))
        if text is None:
            return key if default is None else default
        return text.format(**values) if values else text

    def paragraphs(self, key: str, **values: Any) -> list[str]:
        """A multi-paragraph text (a TOML list of strings) as separate paragraphs."""
        if not self.has(key):
            return []
        return [p for p in self(key, **values).split("\n") if p.strip()]

    def keys(self) -> set[str]:
        """Keys this language defines itself (for completeness tests)."""
        return set(self._own)


def load_messages(lang: str = DEFAULT_LANG) -> Messages:
    """The catalogue for `lang` ('en', 'hu', ...); a GpubenchError names the languages there are."""
    return Messages(lang)


__all__ = ["DEFAULT_LANG", "Messages", "languages", "load_messages"]
