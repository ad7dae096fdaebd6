"""The leading verb of an instruction and its direct object, by a documented word-list heuristic (no parser).

The self-instruct paper (Wang et al., 2023, Figure 2) parsed instructions with the Berkeley Neural Parser
and kept the verb closest to the root with its first direct noun object. No parser on PyPI works offline
(spaCy and benepar download their models at run time), so this module approximates it:

1. Take the first sentence. Skip a lead-in ending in "," or ":" that starts with a word that cannot be an
   imperative verb ("In 60 words or fewer, ...", "As a chef, ...", "Quick task: ...", "Given X, ...").
2. Skip politeness ("please", "could you", "kindly"). The next word is the verb, unless it is a question word,
   auxiliary, pronoun, determiner or preposition ("What is ...", "Is this ...": no verb), or looks like a name:
   capitalized after a lead-in, followed by "has"/"is", or capitalized again mid-sentence later on ("Elena buys
   5 melons. How much does Elena pay?"). Particles join the verb: "come up with", "work out".
3. The object is the head (last word) of the noun phrase after the verb: words up to the first preposition,
   conjunction, wh-word, "-ing" word or punctuation, after skipping determiners, numbers and pronouns
   ("Write a short story about ..." -> story; "Give me three tips ..." -> tips; "Generate a list of ..." -> list).

It errs towards "no verb" or "no object" rather than inventing one; `docs/dataset.md` shows its known misses.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*|\d[\d.,%-]*|[,:;.!?()\"]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
MAX_LEAD_IN_WORDS = 12  # a longer stretch before the first comma is a clause, not a lead-in
MAX_PHRASE_WORDS = 6  # noun phrases in instructions are short; past this the guess is unreliable

_DETERMINERS = set(
    "a an the this that these those some any each every all both either neither no another other such my your his "
    "her its our their following given above below same".split()
)
_PRONOUNS = set("i me you he she it we us they them him myself yourself itself one someone something".split())
_QUESTION_WORDS = set("what which who whom whose when where why how whether".split())
_AUXILIARIES = set(
    "is are was were be been being am do does did can could would should will shall may might must has have had "
    "let's isn't aren't don't doesn't can't won't".split()
)
_PREPOSITIONS = set(
    "in on at for to from with without by about of into onto over under after before during between among "
    "through across against around as like than per via within upon toward towards based according using "
    "considering assuming regarding".split()
)
_CONJUNCTIONS = set("and or but so if then because while although though unless until since that".split())
_LEAD_IN_ONLY = set("here there now first next finally also again ok okay hey hi quick task question note".split())
_POLITENESS = set("please kindly".split())
_PARTICLES = set("up out down off".split())
_NUMBER_WORDS = set(
    "one two three four five six seven eight nine ten eleven twelve fifteen twenty fifty hundred few several many "
    "more most single couple dozen".split()
)

NOT_VERBS = _DETERMINERS | _PRONOUNS | _QUESTION_WORDS | _AUXILIARIES | _PREPOSITIONS | _CONJUNCTIONS | _LEAD_IN_ONLY
_PHRASE_ENDS = _PREPOSITIONS | _CONJUNCTIONS | _QUESTION_WORDS | _AUXILIARIES


def verb_object(instruction: str) -> tuple[str | None, str | None]:
    """The leading verb and the head of its object, lower-cased; None where the heuristic finds none.

    >>> verb_object("In 60 words or fewer, write a witty toast for a family reunion.")
    ('write', 'toast')
    """
    tokens = _WORD.findall(_SENTENCE_END.split(instruction.strip(), maxsplit=1)[0])
    start, after_lead_in = _skip_lead_in(tokens)
    words = tokens[start:]
    while words and words[0].lower() in _POLITENESS:
        words = words[1:]
    if len(words) >= 2 and words[0].lower() in ("could", "can", "would", "will") and words[1].lower() == "you":
        words = words[2:]
        after_lead_in = True  # "Could you compose ...": the verb is not sentence-initial, so case tells
    if not words or not _is_verb_candidate(words[0], after_lead_in):
        return None, None
    if len(words) > 1 and words[1].lower() in _AUXILIARIES:
        return None, None  # "Farid has 24 pencils ...": a subject, since an imperative is never followed by "has"
    if re.search(rf"[^.!?:\s]\s+{re.escape(words[0])}\b", instruction) and words[0][0].isupper():
        return None, None  # "Elena buys 5 melons. How much does Elena pay?": capitalized mid-sentence, a name
    verb, rest = words[0].lower(), words[1:]
    while rest and rest[0].lower() in _PARTICLES:
        verb, rest = f"{verb} {rest[0].lower()}", rest[1:]
    if " " in verb and rest and rest[0].lower() == "with":  # "come up with"
        verb, rest = f"{verb} with", rest[1:]
    return verb, _object_head(rest)


def _skip_lead_in(tokens: list[str]) -> tuple[int, bool]:
    """Where the main clause starts, and whether a lead-in was skipped to get there."""
    start, skipped = 0, False
    for _ in range(2):  # "Here is a request: briefly, write ..." has two
        if start >= len(tokens):
            break
        first = tokens[start].lower()
        if first not in NOT_VERBS and not first.endswith("ly") and first != "step":
            break
        window = tokens[start : start + MAX_LEAD_IN_WORDS + 1]
        stop = next((i for i, token in enumerate(window) if token in (",", ":")), None)
        if stop is None:
            break
        start, skipped = start + stop + 1, True
    return start, skipped


def _is_verb_candidate(word: str, after_lead_in: bool) -> bool:
    lower = word.lower()
    if not word[0].isalpha() or lower in NOT_VERBS or lower in _NUMBER_WORDS:
        return False
    return not (after_lead_in and word[0].isupper())  # "As a rule, Wen has ...": a name, not an imperative


def _object_head(words: list[str]) -> str | None:
    phrase: list[str] = []
    for word in words[: MAX_PHRASE_WORDS + 2]:
        lower = word.lower()
        if not word[0].isalnum() or lower in _PHRASE_ENDS or (phrase and lower.endswith("ing")):
            break
        if not phrase and (lower in _DETERMINERS or lower in _PRONOUNS or lower in _NUMBER_WORDS or word[0].isdigit()):
            continue  # "give me three tips": skip the indirect object and the count
        if not phrase and lower.endswith("ly"):
            continue  # "work out roughly how many ...": an adverb before the object
        phrase.append(lower)
        if len(phrase) > MAX_PHRASE_WORDS:
            return None
    head = phrase[-1] if phrase else None
    if head is None or head in NOT_VERBS or not head[0].isalpha():
        return None
    return head
