"""The report's words: one message catalogue per language (gpubench/report/messages/<lang>.toml).

Every heading, explanation, caption, table header and verdict sentence the report shows comes from a
catalogue, so a third language is one more file. Numbers shown to people are written the language's way
through Babel (`msg.num(31227.5)` is "31,227.5" in English, "31 227,5" in Hungarian); machine-readable output
(CSV, JSON) stays in the C locale. A key missing in a language falls back to English (tests check that
Hungarian has every English key).

    msg = load_messages("hu")
    msg("verdict.faster", device="RTX 4090", times=msg.multiple(3.2))

Texts the report shows but other layers write in English (a benchmark's skip reason, the performance model's
source of an estimate and its warnings, the advisor's price sources, a telemetry reader's note, a workload's
English label) are kept in English where they are made (the run folder, the CLI, CSV). The catalogues hold
them as templates (`[said]` and `[label]`): `msg.said(text)` matches the English text against the English
templates and writes the match in the report's language (its fields translated in turn, numbers with the
language's decimal mark); a text no template matches is shown as it is.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.numbers import format_decimal, format_scientific, get_decimal_symbol, get_group_symbol, parse_pattern

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


@lru_cache(maxsize=64)
def _number_pattern(text: str) -> Any:
    """Babel's parsed number pattern (format_decimal would parse the text again on every number)."""
    return parse_pattern(text)


@lru_cache(maxsize=8)
def _locale(lang: str) -> Locale:
    return Locale.parse(lang)


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


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


_FIELD = re.compile(r"\{(\w+)\}")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?%?")
_SAID_TABLES = ("said.", "label.")


def _pattern(template: str, field: str = ".+?") -> re.Pattern[str]:
    """A regular expression matching what `template.format(...)` writes: its fields as groups of `field`."""
    parts, pos, seen = [], 0, set()
    for m in _FIELD.finditer(template):
        parts.append(re.escape(template[pos : m.start()]))
        name = m.group(1)
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>{field})")
        seen.add(name)
        pos = m.end()
    parts.append(re.escape(template[pos:]))
    return re.compile("".join(parts), re.S)


@lru_cache(maxsize=1)
def _said_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """(pattern, key) of every English `said.*` and `label.*` template, the most literal text first (so
    "{n} of {total} layers" is tried before "{n} layers"); a template that is only a field matches anything
    and is left out."""
    found = []
    for key, template in _catalogue(DEFAULT_LANG).items():
        literal = _FIELD.sub("", template)
        if key.startswith(_SAID_TABLES) and literal.strip():
            # A label part's field never spans the " · " between parts (nor "; " between texts).
            field = r"[^·;]+?" if key.startswith("label.") else ".+?"
            found.append((len(literal), key, _pattern(template, field)))
    found.sort(key=lambda x: (-x[0], x[1]))
    return tuple((pattern, key) for _, key, pattern in found)


_VOWELS = set("aáeéiíoóöőuúüűAÁEÉIÍOÓÖŐUÚÜŰ")
_VOWEL_LETTER_NAMES = set("AEFILMNORSUXYÁÉÍÓÖŐÚÜŰ")  # letters whose Hungarian names start with a vowel: ef, el, em
_VOWEL_DIGITS = set("15")  # egy, öt (and 1000 ezer, but a thousand is written with its digits)
_ARTICLE = re.compile(r"\b([Aa])\(z\) (\S+)")


def _article(match: re.Match[str]) -> str:
    """Hungarian 'a' or 'az' for the word that follows: 'az' before a vowel sound ('az AMD', 'az 5', 'az
    RTX' read er-té-iksz), 'a' otherwise ('a GeForce', 'a H100')."""
    a, word = match.group(1), match.group(2)
    letters = word.lstrip("\"'“„(*")
    first = letters[:1]
    if not first:
        return match.group(0)
    head = re.match(r"[A-ZÁÉÍÓÖŐÚÜŰ]+", letters)
    if first.isdigit():
        vowel = first in _VOWEL_DIGITS
    elif head and len(head.group(0)) >= 2 and not letters[len(head.group(0)) : len(head.group(0)) + 1].islower():
        vowel = first in _VOWEL_LETTER_NAMES  # an acronym is read letter by letter
    else:
        vowel = first in _VOWELS
    return f"{a}{'z' if vowel else ''} {word}"


class Messages:
    """Look up and format report texts in one language: `msg(key, **values)`; `msg.has(key)`; numbers
    written the language's way: `msg.num`, `msg.multiple`, `msg.pct`, `msg.money`."""

    def __init__(self, lang: str = DEFAULT_LANG) -> None:
        if lang not in languages():
            raise GpubenchError(f"--lang {lang!r}: not one of {', '.join(languages())}")
        self.lang = lang
        self._own = _catalogue(lang)
        self._fallback = _catalogue(DEFAULT_LANG)
        self._said_memo: dict[str, str] = {}
        self.decimal = get_decimal_symbol(lang)
        self.group = get_group_symbol(lang)

    @property
    def separators(self) -> str:
        """Plotly's `layout.separators` for this language: the decimal mark, then the thousands separator."""
        return self.decimal + self.group

    def num(self, value: Any, digits: int = 3, missing: str = "–") -> str:
        """A number for people: `digits` significant digits, thousands grouped, in this language
        ("31,227" / "31 227"; "0.105" / "0,105"); `missing` for None, NaN or text."""
        v = _finite(value)
        if v is None:
            return missing
        if v == 0:
            return "0"
        magnitude = math.floor(math.log10(abs(v)))
        if magnitude < -7:  # below 0.0000001 an exponent is shorter than the zeros
            return format_scientific(v, format="0.##E0", locale=self.lang)
        decimals = max(0, digits - 1 - magnitude)
        v = round(v, decimals)
        pattern = "#,##0" + ("." + "#" * decimals if decimals else "")
        return format_decimal(v, format=_number_pattern(pattern), locale=_locale(self.lang))

    def fixed(self, value: Any, decimals: int = 0, missing: str = "–") -> str:
        """A number with exactly `decimals` decimals (thousands grouped), in this language."""
        v = _finite(value)
        if v is None:
            return missing
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return format_decimal(round(v, decimals), format=_number_pattern(pattern), locale=_locale(self.lang))

    def multiple(self, value: Any) -> str:
        """2.3×, 25×, 1,200× (two significant digits: an estimate is no more precise)."""
        v = _finite(value)
        if v is None or v <= 0:
            return "–"
        digits = 1 - int(math.floor(math.log10(v)))
        return self.fixed(v, max(0, digits)) + "×"

    def pct(self, fraction: Any, decimals: int = 0) -> str:
        """A fraction as a percentage: 0.73 -> "73%"."""
        v = _finite(fraction)
        return "–" if v is None else self.fixed(100 * v, decimals) + "%"

    def bytes(self, count: Any) -> str:
        """A byte count as people read it: 2.52 MB, 23.5 GB (decimal units, as datasheets write them)."""
        v = _finite(count)
        if v is None:
            return "–"
        for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
            if abs(v) >= size:
                return f"{self.num(v / size)} {unit}"
        return f"{self.fixed(v)} B"

    def money(self, usd: Any) -> str:
        """US dollars readable at any size: $1,299; $0.42; 1.6e-06 becomes "$0.0000016"; never an exponent."""
        v = _finite(usd)
        if v is None:
            return "–"
        if abs(v) >= 100:
            return "$" + self.fixed(v, 0)
        if v == 0:
            return "$0"
        decimals = max(2, 1 - int(math.floor(math.log10(abs(v)))))
        return "$" + self.fixed(v, min(decimals, 9))

    def said(self, text: Any) -> str:
        """An English text another layer wrote (a skip reason, an estimate's source, a warning, a label) in
        this language, through the catalogues' `said.*` and `label.*` templates (see the module docstring);
        parts joined by "; " or " · " are translated one by one; a text no template matches is returned as
        it is."""
        if text is None or (isinstance(text, float) and math.isnan(text)):
            return ""
        out = str(text)
        if self.lang == DEFAULT_LANG or not out:
            return out
        if out not in self._said_memo:  # a fleet repeats the same reasons and sources thousands of times
            self._said_memo[out] = self._said(out, 0)
        return self._said_memo[out]

    def _said(self, text: str, depth: int) -> str:
        if depth > 6 or not text.strip():
            return text
        for pattern, key in _said_patterns():
            m = pattern.fullmatch(text)
            if m is not None and key in self._own:
                return self(key, **{k: self._said_field(v, depth) for k, v in m.groupdict().items()})
        for sep in ("; ", " · "):
            if sep in text:
                parts = text.split(sep)
                out = [self._said_field(part, depth) for part in parts]
                if out != parts:
                    return sep.join(out)
        return text

    def _said_field(self, value: str, depth: int) -> str:
        if _NUMBER.fullmatch(value):  # a number written in C-locale ("0.885", "85%"): the language's mark
            return value.replace(".", self.decimal)
        return self._said(value, depth + 1)

    def has(self, key: str) -> bool:
        """Whether the key exists (in this language or in English)."""
        return key in self._own or key in self._fallback

    def __call__(self, key: str, default: str | None = None, **values: Any) -> str:
        """The text for `key` with `{name}` fields filled from `values`. An unknown key returns `default`
        (or the key itself, so a missing text is visible, never a crash)."""
        text = self._own.get(key, self._fallback.get(key))
        if text is None:
            return key if default is None else default
        text = text.format(**values) if values else text
        return _ARTICLE.sub(_article, text) if "(z) " in text else text

    def paragraphs(self, key: str, **values: Any) -> list[str]:
        """A multi-paragraph text (a TOML list of strings) as separate paragraphs."""
        if not self.has(key):
            return []
        return [p for p in self(key, **values).split("\n") if p.strip()]

    def unit(self, unit: str) -> str:
        """A unit in this language ("samples/s" is "minta/s" in Hungarian); unknown units as they are."""
        return self._own.get(f"unit.{unit}", unit)

    def keys(self) -> set[str]:
        """Keys this language defines itself (for completeness tests)."""
        return set(self._own)


def load_messages(lang: str = DEFAULT_LANG) -> Messages:
    """The catalogue for `lang` ('en', 'hu', ...); a GpubenchError names the languages there are."""
    return Messages(lang)


__all__ = ["DEFAULT_LANG", "Messages", "languages", "load_messages"]
