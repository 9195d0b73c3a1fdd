"""Phoneme tables (`start end phoneme`, seconds) and the phoneme -> viseme mapping.

Why a plain text table: espeak, CMU-style tools and forced aligners (Montreal, Gentle, ...) all
produce timed phonemes; one shared format lets any of them drive the mouth and the sync meter.
IPA (espeak) and ARPAbet (CMU) symbols are both understood; the alphabet is detected per table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Viseme:
    """Mouth target: jaw opening, lip width (spread), lip rounding, lip closure (all 0..1)."""

    name: str
    jaw: float
    width: float
    round: float
    closure: float


VISEMES = {
    v.name: v
    for v in [
        Viseme("sil", 0.00, 0.45, 0.05, 0.35),
        Viseme("PBM", 0.00, 0.45, 0.10, 1.00),
        Viseme("FV", 0.10, 0.50, 0.00, 0.60),
        Viseme("TH", 0.22, 0.55, 0.00, 0.00),
        Viseme("DT", 0.22, 0.55, 0.05, 0.00),
        Viseme("S", 0.12, 0.65, 0.00, 0.00),
        Viseme("SH", 0.20, 0.30, 0.70, 0.00),
        Viseme("KG", 0.32, 0.50, 0.10, 0.00),
        Viseme("L", 0.30, 0.50, 0.10, 0.00),
        Viseme("R", 0.22, 0.35, 0.55, 0.00),
        Viseme("W", 0.10, 0.15, 1.00, 0.20),
        Viseme("Y", 0.15, 0.70, 0.00, 0.00),
        Viseme("AA", 0.95, 0.55, 0.10, 0.00),
        Viseme("AE", 0.75, 0.75, 0.00, 0.00),
        Viseme("AH", 0.55, 0.50, 0.10, 0.00),
        Viseme("EH", 0.55, 0.70, 0.00, 0.00),
        Viseme("IH", 0.32, 0.80, 0.00, 0.00),
        Viseme("IY", 0.22, 0.95, 0.00, 0.00),
        Viseme("AO", 0.75, 0.35, 0.70, 0.00),
        Viseme("OW", 0.50, 0.25, 0.90, 0.00),
        Viseme("UW", 0.22, 0.12, 1.00, 0.00),
        Viseme("ER", 0.35, 0.40, 0.45, 0.00),
    ]
}

# ARPAbet (CMU dictionary, aligners). Diphthongs are two visemes, the first one held longer.
ARPABET = {
    "AA": ["AA"], "AE": ["AE"], "AH": ["AH"], "AO": ["AO"], "AW": ["AA", "UW"], "AY": ["AA", "IY"],
    "EH": ["EH"], "ER": ["ER"], "EY": ["EH", "IY"], "IH": ["IH"], "IY": ["IY"], "OW": ["OW", "UW"],
    "OY": ["AO", "IY"], "UH": ["UW"], "UW": ["UW"], "AX": ["AH"], "AXR": ["ER"], "IX": ["IH"], "UX": ["UW"],
    "B": ["PBM"], "P": ["PBM"], "M": ["PBM"], "EM": ["PBM"], "F": ["FV"], "V": ["FV"], "TH": ["TH"], "DH": ["TH"],
    "T": ["DT"], "D": ["DT"], "N": ["DT"], "EN": ["DT"], "DX": ["DT"], "NX": ["DT"], "S": ["S"], "Z": ["S"],
    "SH": ["SH"], "ZH": ["SH"], "CH": ["SH"], "JH": ["SH"], "K": ["KG"], "G": ["KG"], "NG": ["KG"],
    "HH": ["KG"], "L": ["L"], "EL": ["L"], "R": ["R"], "W": ["W"], "WH": ["W"], "Y": ["Y"], "Q": ["KG"],
}
SILENCES = {"", "sil", "sp", "spn", "pau", "SIL", "SP", "_", "h#", "#", "<sil>", "||", "|"}

# IPA symbols as espeak writes them for English (and common extra ones).
IPA = {
    "aɪ": ["AA", "IY"], "aʊ": ["AA", "UW"], "eɪ": ["EH", "IY"], "oʊ": ["OW", "UW"], "əʊ": ["AH", "UW"],
    "ɔɪ": ["AO", "IY"], "ɪə": ["IH", "AH"], "eə": ["EH", "AH"], "ʊə": ["UW", "AH"], "aɪə": ["AA", "IY", "AH"],
    "tʃ": ["SH"], "dʒ": ["SH"], "ɑ": ["AA"], "a": ["AA"], "ɐ": ["AH"], "ɒ": ["AO"], "æ": ["AE"], "ʌ": ["AH"],
    "ə": ["AH"], "ɚ": ["ER"], "ɜ": ["ER"], "ɝ": ["ER"], "ɛ": ["EH"], "e": ["EH"], "ɪ": ["IH"], "ᵻ": ["IH"],
    "i": ["IY"], "ɔ": ["AO"], "o": ["OW"], "ʊ": ["UW"], "u": ["UW"], "ɨ": ["IH"], "y": ["UW"], "ø": ["OW"],
    "p": ["PBM"], "b": ["PBM"], "m": ["PBM"], "f": ["FV"], "v": ["FV"], "θ": ["TH"], "ð": ["TH"],
    "t": ["DT"], "d": ["DT"], "n": ["DT"], "ɾ": ["DT"], "ʔ": ["KG"], "s": ["S"], "z": ["S"], "ʃ": ["SH"],
    "ʒ": ["SH"], "k": ["KG"], "ɡ": ["KG"], "g": ["KG"], "ŋ": ["KG"], "h": ["KG"], "x": ["KG"], "l": ["L"],
    "ɫ": ["L"], "ɹ": ["R"], "r": ["R"], "ɻ": ["R"], "w": ["W"], "ʍ": ["W"], "j": ["Y"], "ç": ["Y"], "ɬ": ["L"],
}
_IPA_KEYS = sorted(IPA, key=len, reverse=True)
_IPA_IGNORED = re.compile(r"[ˈˌːˑ̩̃ʰʲʷ̯͡‿\-\s0-9']")


@dataclass
class PhonemeTable:
    """Timed phonemes: rows of (start seconds, end seconds, symbol)."""

    rows: list[tuple[float, float, str]] = field(default_factory=list)
    alphabet: str = "auto"  # "ipa", "arpabet" or "auto" (decided from the symbols)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def end(self) -> float:
        return max((end for _, end, _ in self.rows), default=0.0)

    def shifted(self, seconds: float) -> "PhonemeTable":
        return PhonemeTable([(s + seconds, e + seconds, p) for s, e, p in self.rows], self.alphabet)

    def resolved_alphabet(self) -> str:
        if self.alphabet != "auto":
            return self.alphabet
        symbols = [p for _, _, p in self.rows if p not in SILENCES]
        arpabet = sum(bool(re.fullmatch(r"[A-Z]{1,3}[0-2]?", p)) for p in symbols)
        return "arpabet" if symbols and arpabet >= 0.8 * len(symbols) else "ipa"

    def visemes(self) -> list[tuple[float, float, Viseme]]:
        """Each phoneme split into its visemes; multi-viseme phonemes share their duration."""
        to_visemes = arpabet_visemes if self.resolved_alphabet() == "arpabet" else ipa_visemes
        out = []
        for start, end, symbol in self.rows:
            names = to_visemes(symbol)
            weights = [1.6] + [1.0] * (len(names) - 1)
            total, t = sum(weights), start
            for name, weight in zip(names, weights):
                step = (end - start) * weight / total
                out.append((t, t + step, VISEMES[name]))
                t += step
        return out


def arpabet_visemes(symbol: str) -> list[str]:
    if symbol in SILENCES:
        return ["sil"]
    return ARPABET.get(symbol.upper().rstrip("012"), ["AH"])


def ipa_visemes(symbol: str) -> list[str]:
    """Greedy longest-match parse of an IPA string; unknown letters count as a neutral vowel."""
    text = _IPA_IGNORED.sub("", symbol)
    if text in SILENCES:
        return ["sil"]
    names, i = [], 0
    while i < len(text):
        for key in _IPA_KEYS:
            if text.startswith(key, i):
                names += IPA[key]
                i += len(key)
                break
        else:
            names.append("AH")
            i += 1
    return names or ["sil"]


def read_table(path_or_text: str | Path) -> PhonemeTable:
    """Read `start end phoneme` lines (seconds; '#' starts a comment; whitespace-separated)."""
    text = Path(path_or_text).read_text(encoding="utf-8") if _is_path(path_or_text) else str(path_or_text)
    rows, alphabet = [], "auto"
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            match = re.search(r"alphabet\s*[:=]\s*(\w+)", line)
            alphabet = match.group(1).lower() if match else alphabet
            continue
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        if len(parts) < 2:
            raise ValueError(f"line {number}: expected 'start end phoneme', got {line!r}")
        start, end = float(parts[0]), float(parts[1])
        if end < start:
            raise ValueError(f"line {number}: end {end} is before start {start}")
        rows.append((start, end, parts[2] if len(parts) > 2 else "sil"))
    return PhonemeTable(rows, alphabet)


def write_table(table: PhonemeTable, path: str | Path | None = None) -> str:
    """Write the table as text (and to `path` if given); returns the text."""
    lines = [f"# alphabet: {table.resolved_alphabet()}", "# start_seconds end_seconds phoneme"]
    lines += [f"{start:.4f} {end:.4f} {symbol}" for start, end, symbol in table.rows]
    text = "\n".join(lines) + "\n"
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def _is_path(value) -> bool:
    if isinstance(value, Path):
        return True
    return "\n" not in value and len(value) < 4096 and Path(value).is_file()
