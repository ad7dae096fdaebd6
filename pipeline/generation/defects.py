"""Rules for the defect classes people fixed by hand in the released Alpaca 52K (AlpacaDataCleaned's list).

Each rule returns None to keep or the name of the reason to drop, like the rules of `filters.py`, whose rule list
includes them: URLs the task depends on, media that isn't there, "no output" markers, merged tasks, wrong plain
arithmetic and context the instruction points at but the example lacks. Each errs towards keeping: a rule fires
only on wording that leaves no doubt, because a dropped good example is lost for good.
"""

from __future__ import annotations

import ast
import re
from fractions import Fraction
from typing import TYPE_CHECKING

from pipeline.core.records import Example

if TYPE_CHECKING:  # filters.py imports this module for its rule list
    from pipeline.generation.filters import FilterConfig

_URL = re.compile(r"\bhttps?://[^\s<>\"']+|\bwww\.[a-z0-9-]+\.[^\s<>\"']+", re.I)
# The URL is the subject (shorten it, parse it, find its domain), not a page whose text the task needs.
# ("link" is no sign: "summarize the article at the link below" is the defect itself.)
_ABOUT_URLS = re.compile(r"\b(?:url|urls|uri|hyperlinks?|domain|web ?address|regex|regular expression)\b", re.I)
_MEDIA = r"(?:image|images|img|picture|pictures|photo|photos|photograph|chart|graph|diagram|figure|video|audio|" \
    r"recording|table|attachment|attached|screenshot|illustration|drawing|sketch|map|file|pdf)"  # fmt: skip
# A placeholder in brackets stands for media anywhere in an input: <Picture Attached>, [Image], (see chart).
_MEDIA_PLACEHOLDER = re.compile(
    rf"[<\[({{]\s*(?:insert |see |the |an? )?{_MEDIA}\b[^<>\[\](){{}}\n]{{0,60}}[>\])}}]", re.I
)
# Only a short input is nothing but a reference: a long one that mentions "the attached file" has its own text.
_MEDIA_REFERENCE = re.compile(
    rf"^\s*{_MEDIA}\s*(?:of\b|:|-)"  # "Image of a red car", "Chart: quarterly sales"
    rf"|\b(?:attached|enclosed|uploaded|embedded)\s+(?:an? |the )?{_MEDIA}\b"  # "the attached chart"
    rf"|\b(?:see|refer to|look at)\s+(?:the\s+)?(?:attached|attachment|{_MEDIA}\s+(?:above|below|attached))"
    r"|\b[\w-]+\.(?:png|jpe?g|gif|bmp|webp|svg|tiff?|mp3|wav|ogg|mp4|mov|avi|pdf|xlsx?|csv)\b",  # a media file name
    re.I,
)
SHORT_INPUT_WORDS = 15  # at most this many words, on one line: an input that can be only a reference
# <nooutput>, <No Output>, <noinput>, <no input>, [no output], noinput: the teacher's "nothing here" markers.
_NO_OUTPUT_MARKER = re.compile(r"[<\[(]\s*no[\s_-]*(?:output|input)\s*[>\])]|\bno(?:output|input)\b", re.I)
# A second task inside an output: an "Instruction:" header at a line start, or a "###" separator with text after
# it ("Input:"/"Output:" alone is no sign: code answers show example inputs and outputs that way).
_TASK_HEADER = re.compile(
    r"(?:^|\n)[ \t]*(?:#+[ \t]*)?(?:\d+[ \t]*[.)][ \t]*)?Instruction[ \t]*:|\n#{2,3}[ \t]*\n\s*\S", re.I
)
_NUMBER = r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"  # 12, 1,000, 2.5
# One expression of numbers and operators, not part of a date, a price, a percentage or an algebra term.
# numbers and + - × ÷ with parentheses ("8 * (25 + 7)"); none right after a number ("2 (3 + 5)" is ambiguous)
_ARITHMETIC = re.compile(
    rf"(?<![\w.,/$%^])(?<!\d\s)\(*\s*{_NUMBER}\s*\)*(?:\s*[-+*/×÷x]\s*\(*\s*{_NUMBER}\s*\)*)+(?![\w%^/$]|[.,]\d)", re.I
)
_DIGIT_OPERATOR_DIGIT = re.compile(r"\d\s*[-+*/×÷xX]\s*-?\d")
_ASKS_TO_COMPUTE = re.compile(r"^\s*(?:what is|what's|calculate|compute|evaluate|solve|find|work out|add|multiply)"
                              r"|\b(?:result|value|answer|equal|equals)\b", re.I)  # fmt: skip
_CONTEXT_NOUNS = (
    "article", "text", "passage", "paragraph", "sentence", "sentences", "poem", "story", "essay", "email", "letter",
    "code", "snippet", "program", "data", "dataset", "data set", "table", "list", "document", "report", "review",
    "tweet", "conversation", "dialogue", "dialog", "statement", "quote", "lyrics", "recipe", "headline", "excerpt",
    "input", "news", "transcript", "speech", "song", "numbers", "sequence", "equation", "question", "words",
)  # fmt: skip
_POINTS_AT_CONTEXT = re.compile(
    r"\b(?:the following|the given|the provided|the above|the attached|the below|this|these)\s+(?:\w+\s+)?"
    rf"(?:{'|'.join(sorted(map(re.escape, _CONTEXT_NOUNS), key=len, reverse=True))})\b"
    r"|\b(?:text|passage|paragraph|article|sentence|code|data) below\b",
    re.I,
)
_POINTING_WORDS = ("following", "given", "provided", "above", "attached", "below", "this", "these")
# The context is in the instruction after all: after a colon, on a line of its own, after a question ("... true or
# false? Humans can breathe underwater."), or in quotes; all seen in the released alpaca_data.json.
_INLINE_CONTEXT = re.compile(r":\s*\S|\n\s*\S|\?\s+\S+(?:\s+\S+)+|[\"“'‘][^\"”'’]{3,}[\"”'’]")
# Tasks that transform their input: an output equal to it means nothing was done.
_EDIT_TASK = re.compile(
    r"\b(?:rewrite|re-write|edit|correct|fix|paraphrase|rephrase|reword|translate|convert|change|improve|revise|"
    r"shorten|simplify|expand|reformat|format|capitali[sz]e|punctuate|proofread|polish|make|transform|replace|"
    r"remove|delete|reverse|sort|reorder|rearrange|summari[sz]e|condense|modify|update)\b",
    re.I,
)
ECHO_WORDS = 8  # an output copying an input of more words than this answers nothing, whatever the task


def url_reference(example: Example, config: FilterConfig) -> str | None:
    """A URL the task depends on, in the instruction or beside text in the input: the teacher could not open it."""
    if "http" not in (text := f"{example.instruction}\n{example.input}".lower()) and "www." not in text:
        return None  # the common case, without a regex
    if is_about_urls(example):
        return None
    if _URL.search(example.instruction):
        return "instruction_has_url"
    without_urls = _URL.sub(" ", example.input)
    if without_urls != example.input and len(without_urls.split()) <= 3:  # "Article: https://..."
        return "input_is_url"
    return None


def is_about_urls(example: Example) -> bool:
    """The URL is the task's subject ("extract the domain from the URL"), not a page to read."""
    return bool(_ABOUT_URLS.search(example.instruction))


def absent_media(example: Example, config: FilterConfig) -> str | None:
    """An input that stands for an image, chart, video, audio, table or attachment the example doesn't hold."""
    task_input = example.input.strip()
    if _MEDIA_PLACEHOLDER.search(task_input):
        return "input_refers_to_absent_media"
    short = "\n" not in task_input and len(task_input.split()) <= SHORT_INPUT_WORDS
    return "input_refers_to_absent_media" if short and _MEDIA_REFERENCE.search(task_input) else None


def no_output_marker(example: Example, config: FilterConfig) -> str | None:
    """`<nooutput>`, `<No Output>`, `<noinput>` anywhere in the output: the teacher wrote a marker, not an answer."""
    if "output" not in (text := example.output.lower()) and "input" not in text:
        return None  # the common case, without a regex
    return "output_has_no_output_marker" if _NO_OUTPUT_MARKER.search(text) else None


def output_holds_another_task(example: Example, config: FilterConfig) -> str | None:
    """Task headers ("Instruction:", "### Input:") inside an output: two tasks merged into one example."""
    if "##" not in example.output and "instruction" not in example.output.lower():
        return None  # the common case, without a regex
    return "output_holds_another_task" if _TASK_HEADER.search(example.output) else None


def wrong_arithmetic(example: Example, config: FilterConfig) -> str | None:
    """Plain arithmetic (one expression of numbers and + - × ÷) whose stated answer differs from the exact value.

    Only when the task is unambiguous: exactly one expression in the instruction and input, a request to compute,
    and an output that is a number or ends its working with "= N" / "the answer is N". A stated answer rounded
    to its own decimals counts as right.
    """
    question = f"{example.instruction}\n{example.input}"
    if not _DIGIT_OPERATOR_DIGIT.search(question):
        return None  # the common case, with a simple regex
    expressions = _ARITHMETIC.findall(question)
    if len(expressions) != 1 or not _ASKS_TO_COMPUTE.search(example.instruction):
        return None
    exact = _evaluate(expressions[0])
    stated = _stated_answer(example.output)
    if exact is None or stated is None:
        return None
    decimals = len(stated.split(".")[1]) if "." in stated else 0
    difference = abs(Fraction(stated.replace(",", "")) - exact)
    return "wrong_arithmetic_answer" if difference > Fraction(1, 2 * 10**decimals) else None


def absent_context(example: Example, config: FilterConfig) -> str | None:
    """ "Summarize the following article" with an empty input: the instruction points at text the example lacks."""
    if example.input.strip():
        return None
    lowered = example.instruction.lower()
    if not any(word in lowered for word in _POINTING_WORDS) or not _POINTS_AT_CONTEXT.search(example.instruction):
        return None
    return None if _INLINE_CONTEXT.search(example.instruction) else "instruction_refers_to_absent_input"


def is_unchanged_edit(example: Example) -> bool:
    """An output equal to the input is a defect when the task was to change it, or the input is long; a short exact
    answer ("the past participle of 'run'" -> "run") is not one."""
    task_input = example.input.strip()
    if not task_input or task_input != example.output.strip():
        return False
    return bool(_EDIT_TASK.search(example.instruction)) or len(task_input.split()) > ECHO_WORDS


def _evaluate(expression: str) -> Fraction | None:
    """The exact value of `3 × 4 + 1.5`, or None when it divides by zero or is not plain arithmetic."""
    text = re.sub(r"(?<=[\d)])\s*[x×]\s*(?=[\d(-])", "*", expression, flags=re.I).replace("÷", "/").replace(",", "")
    text = text.strip()
    try:
        tree = ast.parse(text, mode="eval").body
        return _fraction(tree)
    except (SyntaxError, ZeroDivisionError, ValueError):
        return None


def _fraction(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return Fraction(str(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_fraction(node.operand)
    if isinstance(node, ast.BinOp):
        left, right = _fraction(node.left), _fraction(node.right)
        operations = {ast.Add: Fraction.__add__, ast.Sub: Fraction.__sub__, ast.Mult: Fraction.__mul__,
                      ast.Div: Fraction.__truediv__}  # fmt: skip
        for kind, operation in operations.items():
            if isinstance(node.op, kind):
                return operation(left, right)
    raise ValueError("not plain arithmetic")


def _stated_answer(output: str) -> str | None:
    """The number an output gives as its answer: the whole output, after its last "=", or after "answer is"."""
    text = output.strip().rstrip(".").strip()
    for pattern in (r"^\$?(-?\d[\d,]*(?:\.\d+)?)$", r"answer is:?\s*\$?(-?\d[\d,]*(?:\.\d+)?)\b",
                    r"=\s*\$?(-?\d[\d,]*(?:\.\d+)?)\s*$"):  # fmt: skip
        match = re.search(pattern, text, re.I)
        if match and re.fullmatch(r"-?\d{1,3}(?:,\d{3})*(?:\.\d+)?|-?\d+(?:\.\d+)?", match.group(1)):
            return match.group(1)
    return None


# Reasons that give way when a narrower rule named the same defect: one reason per defect in the counts.
SUBSUMED_BY: dict[str, tuple[str, ...]] = {
    "input_refers_to_absent_media": ("input_is_media_placeholder",),
    "output_has_no_output_marker": ("placeholder_output",),
    "output_holds_another_task": ("output_leaks_next_task",),
    "header_in_output": ("output_leaks_next_task", "output_holds_another_task"),  # a merged task's header
    "placeholder_in_input": ("input_is_media_placeholder", "input_refers_to_absent_media"),  # "[Image]"
}
RULES = (url_reference, absent_media, no_output_marker, output_holds_another_task, wrong_arithmetic, absent_context)
