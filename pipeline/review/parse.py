"""Reading a score and a rationale out of what a judge model wrote: "Score: 4.5", "4/5", "8 out of 10", JSON.

A judgement the parser cannot read is recorded with the reason, never guessed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

MAX_SCORE = 5.0
_NUMBER = r"(\d+(?:\.\d+)?)"
_LABELLED = re.compile(
    rf"\b(?:score|rating|grade)\b\**\s*(?:[:=]|is)\s*\**\s*{_NUMBER}(?:\s*(?:/|out of)\s*{_NUMBER})?", re.I
)
_FRACTION = re.compile(rf"(?<![\d.]){_NUMBER}\s*(?:/|out of)\s*(5|10|100)\b", re.I)
_LEADING = re.compile(rf"^\s*\**{_NUMBER}\**\s*(?:$|[\n.,;:\-–—)])")
_RATIONALE = re.compile(r"\b(?:rationale|explanation|reason(?:ing)?|justification)\b\**\s*[:=]\**\s*(.+)", re.I)
_JSON = re.compile(r"\{[^{}]*\}", re.S)
RATIONALE_CHARS = 300


@dataclass(frozen=True, slots=True)
class Judgement:
    score: float | None  # on 0-5; None when unreadable
    rationale: str
    reason: str | None = None  # why there is no score


def parse_judgement(text: str) -> Judgement:
    """The score (0-5) and one-line rationale in a judge's answer.

    >>> parse_judgement("Score: 4.5\\nRationale: Correct and complete.")
    Judgement(score=4.5, rationale='Correct and complete.', reason=None)
    >>> parse_judgement("I'd give it 8/10 - mostly right.").score
    4.0
    >>> parse_judgement("The response is fine.").reason
    'no score found'
    """
    text = text.strip()
    if not text:
        return Judgement(None, "", "empty answer")
    found = _from_json(text) or _from_text(text)
    if found is None:
        return Judgement(None, _first_line(text), "no score found")
    scores, rationale = found
    if len(set(scores)) > 1:
        shown = ", ".join(f"{score:g}" for score in dict.fromkeys(scores))
        return Judgement(None, rationale, f"several different scores ({shown})")
    score = scores[0]
    if not 0 <= score <= MAX_SCORE:
        return Judgement(None, rationale, f"score {score:g} is outside 0-5")
    return Judgement(score, rationale)


def _from_json(text: str) -> tuple[list[float], str] | None:
    for candidate in _JSON.findall(text):
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        fields = {str(name).lower(): value for name, value in data.items()}
        value = next((fields[name] for name in ("score", "rating", "grade") if name in fields), None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            why = next((fields[name] for name in ("rationale", "explanation", "reason") if name in fields), "")
            return [float(value)], _clip(str(why))
    return None


def _from_text(text: str) -> tuple[list[float], str] | None:
    scores = [_scaled(number, scale) for number, scale in _LABELLED.findall(text)]
    if not scores:
        scores = [_scaled(number, scale) for number, scale in _FRACTION.findall(text)]
    if not scores and (leading := _LEADING.match(text)):
        scores = [float(leading.group(1))]
    if not scores:
        return None
    rationale = _RATIONALE.search(text)
    if rationale:
        return scores, _clip(rationale.group(1))
    return scores, _without_scores(text)


def _scaled(number: str, scale: str) -> float:
    """A score on 0-5 from "8" on a scale of "10" ("" or "5": already on 0-5)."""
    value = float(number)
    return value * MAX_SCORE / float(scale) if scale and float(scale) not in (0.0, MAX_SCORE) else value


def _without_scores(text: str) -> str:
    """The first line of what is left once the scores are cut out: "4/5 — good but short" -> "good but short"."""
    rest = _FRACTION.sub(" ", _LABELLED.sub(" ", _LEADING.sub(" ", text, count=1)))
    lines = [_clip(line.strip(" *-–—:.,;()")) for line in rest.splitlines()]
    return next((line for line in lines if len(line) > 1), "")


def _first_line(text: str) -> str:
    return _clip(text.splitlines()[0] if text else "")


def _clip(text: str) -> str:
    text = " ".join(text.split()).strip(" -–—")
    return text if len(text) <= RATIONALE_CHARS else text[: RATIONALE_CHARS - 1] + "…"
