"""Reading a short answer out of a policy's response, and comparing it with a reference answer.

Extraction: the last `\\boxed{...}` (or `\\fbox{...}`) wins; without one, the last "final answer:",
"answer:" or "the answer is ..." (to the end of its line); without any marker, the whole response.
A marked answer is held to be the answer; an unmarked response may be a sentence around it.

Comparison, by the kind of reference:
- a multiple-choice letter (`B`, `(B)`, `B.`): the letter the response chose;
- a number (with thousands separators, sign, decimals, a fraction, a percentage, a scale word such
  as "million", a currency sign or a unit): equal values; a decimal written to d >= 2 places also
  matches a value that rounds to it (`0.33` and `1/3`); `50%` matches `50` and `0.5`; both units,
  when both are given, must agree (`5 km` is not `5 m`, but `5` is `5 km`); a number is a whole
  token (`12` is not in `312`, `x86` holds no number);
- anything else: text equal after normalisation (Unicode NFKC, accents, case, punctuation, the
  articles a/an/the, whitespace), or, in a short response, the reference as a whole-token run.
A negation right before the answer ("not 12") or a hedge with "or" scores 0.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_MARKERS = re.compile(
    r"(?:final\s+answer|answer)(?:\s+is\b)?\s*[:=\-]?\s*(?P<rest>[^\n]*)",
    re.IGNORECASE,
)
_NEGATIONS = frozenset({"not", "no", "never", "neither", "nor", "isn", "aren", "wasn", "weren", "nt"})
_ARTICLES = frozenset({"a", "an", "the"})
_MAX_EXTRA_TOKENS = 12

_NUMBER = re.compile(
    r"(?<![\w.,])(?P<sign>[-+])?\s?(?P<cur>[$€£¥])?\s?"
    r"(?P<int>\d{1,3}(?:,\d{3})+(?![\d,])|\d+)(?P<dec>\.\d+)?"
    r"(?:\s?/\s?(?P<den>\d+)(?![\d.]))?(?:[eE](?P<exp>[-+]?\d+))?"
    r"(?P<after>\s?%|\s?[A-Za-z°µ][\w°/^²³µ]*)?"
)
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_UNIT_ALIASES = {
    "percent": "%",
    "per cent": "%",
    "pct": "%",
    "dollar": "$",
    "usd": "$",
    "euro": "€",
    "eur": "€",
    "pound": "£",
    "gbp": "£",
    "yen": "¥",
    "kilometer": "km",
    "kilometre": "km",
    "meter": "m",
    "metre": "m",
    "centimeter": "cm",
    "centimetre": "cm",
    "millimeter": "mm",
    "millimetre": "mm",
    "kilogram": "kg",
    "gram": "g",
    "second": "s",
    "sec": "s",
    "minute": "min",
    "hour": "h",
    "hr": "h",
    "liter": "l",
    "litre": "l",
    "milliliter": "ml",
    "millilitre": "ml",
    "mile": "mi",
    "foot": "ft",
    "feet": "ft",
    "inch": "in",
    "degree": "°",
    "°c": "°c",
    "celsius": "°c",
    "degree celsius": "°c",
    "fahrenheit": "°f",
    "kilowatt": "kw",
    "watt": "w",
    "volt": "v",
    "byte": "b",
    "gigabyte": "gb",
    "megabyte": "mb",
}
_ORDINALS = frozenset({"st", "nd", "rd", "th", "s"})


# -- extraction ------------------------------------------------------------------------------------


def _boxed_contents(text: str) -> list[str]:
    found = []
    for match in _BOX.finditer(text):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    found.append(text[start:i])
                    break
    return found


def extract_answer(response: str) -> tuple[str, bool]:
    """The answer a response gives, and whether it was marked (boxed or after an answer marker)."""
    boxed = _boxed_contents(response)
    if boxed:
        return boxed[-1].strip(), True
    markers = list(_MARKERS.finditer(response))
    if markers and markers[-1].group("rest").strip():
        return markers[-1].group("rest").strip().rstrip(".").strip(), True
    return response.strip(), False


def clean_latex(text: str) -> str:
    """Plain text from the LaTeX that short answers carry (fractions, \\text, escaped % and $)."""
    text = re.sub(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"\1/\2", text)
    text = re.sub(r"\\(?:text|textbf|mathrm|mathbf|operatorname)\s*\{([^{}]*)\}", r"\1", text)
    text = text.replace("\\%", "%").replace("\\$", "$").replace("{,}", ",").replace("^\\circ", "°")
    text = re.sub(r"\\(?:left|right|displaystyle|,|;|!|\s)", " ", text)
    text = text.replace("−", "-").replace("–", "-").replace("\u00a0", " ")
    text = re.sub(r"^\$+|\$+$", "", text.strip()) if text.count("$") >= 2 else text
    return text.replace("\\(", "").replace("\\)", "").strip()


# -- numbers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quantity:
    value: Fraction
    decimals: int | None  # places written after the point; None for integers and fractions
    percent: bool
    unit: str | None
    start: int

    def values(self) -> tuple[Fraction, ...]:
        return (self.value, self.value / 100) if self.percent else (self.value,)


def _unit(raw: str | None, currency: str | None) -> tuple[str | None, bool, int]:
    """(unit, is-percent, scale) from what follows a number (and a currency sign before it)."""
    word = " ".join((raw or "").strip().lower().split())
    if word == "%" or word in ("percent", "pct"):
        return "%", True, 1
    scale = _SCALES.get(word, 1)
    if scale != 1:
        word = ""
    if word not in _UNIT_ALIASES:
        word = " ".join(_singular(w) for w in word.split())
    word = _UNIT_ALIASES.get(word, word)
    if word in _ORDINALS:
        word = ""
    return (currency or word or None), False, scale


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("s") and not word.endswith(("us", "ss")):
        return word[:-1]
    return word


def _quantity(match: re.Match[str]) -> Quantity:
    digits = match.group("int").replace(",", "") + (match.group("dec") or "")
    value = Fraction(digits)
    if match.group("den"):
        den = int(match.group("den"))
        value = value / den if den else Fraction(0)
    if match.group("exp"):
        value *= Fraction(10) ** int(match.group("exp"))
    unit, percent, scale = _unit(match.group("after"), match.group("cur"))
    value *= scale
    if match.group("sign") == "-":
        value = -value
    decimals = len(match.group("dec")) - 1 if match.group("dec") and not match.group("den") else None
    return Quantity(value, decimals, percent, unit, match.start())


def find_quantities(text: str) -> list[Quantity]:
    return [_quantity(m) for m in _NUMBER.finditer(text)]


def parse_quantity(text: str) -> Quantity | None:
    """The text as one number (with its unit), or None when it is anything more."""
    text = clean_latex(text).strip().rstrip(".")
    match = _NUMBER.fullmatch(text)
    if match:
        return _quantity(match)
    # A number followed by a unit of several words ("3 km per hour", "12 years old").
    match = _NUMBER.match(text)
    if match and match.end() < len(text) and len(text[match.end() :].split()) <= 3:
        quantity = _quantity(match)
        rest = text[match.start("after") if match.group("after") else match.end() :].strip().lower()
        unit, percent, scale = _unit(rest, match.group("cur"))
        if not re.search(r"\d", rest):
            return Quantity(quantity.value, quantity.decimals, quantity.percent or percent, unit, 0)
    return None


def _close(a: Fraction, b: Fraction, decimals_a: int | None, decimals_b: int | None) -> bool:
    if a == b:
        return True
    places = [d for d in (decimals_a, decimals_b) if d is not None and d >= 2]
    if not places:
        return False
    d = min(places)
    return abs(a - b) <= Fraction(1, 2 * 10**d)


def quantities_match(got: Quantity, want: Quantity) -> bool:
    if got.unit and want.unit and got.unit != want.unit and not (got.percent or want.percent):
        return False
    return any(_close(g, w, got.decimals, want.decimals) for g in got.values() for w in want.values())


# -- text ------------------------------------------------------------------------------------------


def normalize_text(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", clean_latex(text)).lower()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = re.sub(r"[^\w\s]|_", " ", text)
    return [t for t in text.split() if t not in _ARTICLES]


def _contains_run(tokens: list[str], run: list[str]) -> int:
    for i in range(len(tokens) - len(run) + 1):
        if tokens[i : i + len(run)] == run:
            return i
    return -1


# -- choices ---------------------------------------------------------------------------------------

_CHOICE_REFERENCE = re.compile(r"\(?([A-J])\)?[.):]?")
_CHOICE_WHOLE = re.compile(r"\(?([A-J])\)?[.):]?(?:\s+.*)?", re.DOTALL)
_CHOICE_NAMED = re.compile(r"(?:option|choice|answer(?:\s+is)?)\s*:?\s*\(?([A-J])\)?(?![\w])", re.IGNORECASE)
_CHOICE_LABEL = re.compile(r"\(?([A-J])[).:]\s")
_CHOICE_PAREN = re.compile(r"\(([A-J])\)")


def choice_letter(reference: str) -> str | None:
    match = _CHOICE_REFERENCE.fullmatch(reference.strip())
    return match.group(1) if match else None


def chosen_letter(answer: str, marked: bool) -> str | None:
    answer = answer.strip()
    if marked or len(answer) <= 3:
        match = _CHOICE_WHOLE.fullmatch(answer)
        if match and (len(answer) <= 3 or answer[1:2] in ").:" or answer.startswith("(")):
            return match.group(1)
    labelled = _CHOICE_LABEL.match(answer)
    if labelled:
        return labelled.group(1)
    named = _CHOICE_NAMED.findall(answer) or _CHOICE_PAREN.findall(answer)
    return named[-1] if named else None


# -- scoring ---------------------------------------------------------------------------------------


def _negated(tokens_before: list[str]) -> bool:
    # Two tokens: "isn't" normalises to "isn t".
    return any(t in _NEGATIONS for t in tokens_before[-2:])


def _number_score(answer: str, marked: bool, want: Quantity) -> float:
    whole = parse_quantity(answer)
    if whole is not None:
        return 1.0 if quantities_match(whole, want) else 0.0
    found = find_quantities(clean_latex(answer))
    if not found:
        return 0.0
    if marked and len({q.value for q in found}) > 1:
        return 0.0  # a marked answer with several numbers is a hedge, not an answer
    last = found[-1]
    if _negated(normalize_text(answer[: last.start])):
        return 0.0
    return 1.0 if quantities_match(last, want) else 0.0


def _text_score(answer: str, reference: str) -> float:
    got, want = normalize_text(answer), normalize_text(reference)
    if not want:
        return 0.0
    if got == want:
        return 1.0
    if len(got) > len(want) + _MAX_EXTRA_TOKENS:
        return 0.0
    at = _contains_run(got, want)
    if at < 0:
        return 0.0
    hedged = "or" in got and "or" not in want
    negated = any(t in _NEGATIONS for t in got) and not any(t in _NEGATIONS for t in want)
    return 0.0 if hedged or negated else 1.0


def score_answer(response: str, reference: str) -> float:
    """1.0 when the response's answer is the reference answer, else 0.0 (rules above)."""
    if not isinstance(response, str) or not isinstance(reference, str) or not reference.strip():
        return 0.0
    answer, marked = extract_answer(response)
    letter = choice_letter(reference)
    if letter is not None:
        return 1.0 if chosen_letter(answer, marked) == letter else 0.0
    want = parse_quantity(reference)
    if want is not None:
        return _number_score(answer, marked, want)
    return _text_score(answer, reference)
