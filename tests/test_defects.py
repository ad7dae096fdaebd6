"""The defect classes of the released Alpaca 52K: each rule on real-looking records it must drop and must keep."""

from __future__ import annotations

import random

import pytest

from pipeline.core.records import Example
from pipeline.generation import defects
from pipeline.generation.filters import RULES, FilterConfig, input_equals_output, unusable_input
from pipeline.simulator.grammar import draw_task


def reasons(example: Example) -> list[str]:
    """Every rule the example breaks, as `clean` lists them."""
    return [reason for rule in RULES if (reason := rule(example, FilterConfig())) is not None]


BELARUS = "The recent protests in Belarus are part of a growing wave of discontent against the rule of Lukashenko."


@pytest.mark.parametrize(
    ("instruction", "task_input", "output", "reason"),
    [
        # URLs: the teacher could not open the page, so it made the answer up (AlpacaDataCleaned, "Hallucinations")
        ("Summarize the given article in 200 Words.", "https://www.bbc.com/news/world-51461830", BELARUS,
         "input_is_url"),
        ("Given a recent news article, write a headline for it.", "Article: https://www.news.example.com/article-1",
         '"NASA Launches a Mars 2020 Mission"', "input_is_url"),
        ("Summarize the article at https://en.wikipedia.org/wiki/Alpaca in two sentences.", "",
         "Alpacas are domesticated camelids from South America.", "instruction_has_url"),
        ("Visit www.nytimes.com and list the top three headlines of the day.", "", "1. Markets rally.",
         "instruction_has_url"),
        # Media that is not there
        ("Classify the following shape according to simple geometry.", "<Picture Attached>", "Triangle",
         "input_is_media_placeholder"),
        ("Describe the person in the photo.", "[Image of a woman smiling]", "She is smiling.",
         "input_refers_to_absent_media"),
        ("Analyze the trend shown in the chart.", "Chart: quarterly sales 2019-2021", "Sales grew.",
         "input_refers_to_absent_media"),
        ("Explain what happens in the video.", "See the attached video of the experiment.", "The liquid boils.",
         "input_refers_to_absent_media"),
        ("Transcribe the recording.", "interview_recording.mp3", "Hello and welcome.",
         "input_refers_to_absent_media"),
        ("Identify the bird in this picture.", "A picture of a bird: bird_photo.jpg", "It is a robin.",
         "input_refers_to_absent_media"),
        # Markers where an answer should be
        ("Create a graphic that represents the word courage.", "", "<No Output>", "placeholder_output"),
        ("Freeze the following sample of yogurt for 10 minutes.", "Yogurt sample", "<noinput>",
         "output_has_no_output_marker"),
        ("Design a logo for a coffee shop called Bean There.", "", "Here is the logo: <nooutput>",
         "output_has_no_output_marker"),
        ("Record a short voice message greeting a friend.", "", "[No Output] (audio cannot be produced)",
         "output_has_no_output_marker"),
        # Merged tasks
        ("Should I invest in stocks?", "", "It depends on your situation.\n##\n18. Instruction: Identify the noun.",
         "output_leaks_next_task"),
        ("Give an example of a renewable resource.", "", "Solar power.\n\nInstruction: Name a mammal.\nA dog.",
         "output_holds_another_task"),
        ("Suggest a name for a bakery.", "", "Rise & Shine\n###\nCreate a slogan for the bakery.",
         "output_holds_another_task"),
        # Wrong plain arithmetic, evaluated exactly
        ("What is 25 × 4?", "", "90", "wrong_arithmetic_answer"),
        ("Calculate the result of the expression.", "12 + 7 * 3", "57", "wrong_arithmetic_answer"),
        ("Compute 7 / 3, rounded to two decimals.", "", "7 / 3 = 2.36", "wrong_arithmetic_answer"),
        ("Evaluate 1,000 - 1 for me.", "", "The answer is 998.", "wrong_arithmetic_answer"),
        # from the released alpaca_data.json (its 5,000-record subset in tatsu-lab/stanford_alpaca): 8 * 32 is 256
        ("Calculate the following equation: 8 * (25 + 7)", "", "216", "wrong_arithmetic_answer"),
        ("Calculate (2 + 3) x 4", "", "14", "wrong_arithmetic_answer"),
        # Context the instruction points at but the example lacks
        ("Summarize the following article in three sentences.", "", "The article explains...",
         "instruction_refers_to_absent_input"),
        ("Find the grammatical error in the given sentence.", "", "There is none.",
         "instruction_refers_to_absent_input"),
        ("Explain what this code does.", "", "It prints numbers.", "instruction_refers_to_absent_input"),
        # Input equal to output where the task was to change it, or a long echo
        ("Rewrite the sentence in the passive voice.", "The dog chased the ball.", "The dog chased the ball.",
         "input_equals_output"),
        ("Identify the main idea of the paragraph.", "Bees pollinate most crops, so farmers depend on healthy hives "
         "and protect them.", "Bees pollinate most crops, so farmers depend on healthy hives and protect them.",
         "input_equals_output"),
    ],
)  # fmt: skip
def test_defect_is_named(instruction: str, task_input: str, output: str, reason: str) -> None:
    assert reason in reasons(Example(instruction, task_input, output))


@pytest.mark.parametrize(
    ("instruction", "task_input", "output"),
    [
        # URLs as the subject of the task
        ("Extract the domain name from the URL.", "https://www.example.com/path?q=1", "example.com"),
        ("Shorten the URL https://example.org/a/very/long/path for a tweet.", "", "example.org/…"),
        ("Find the contact details in this text.", "Call 555-0100 or visit https://acme.example for our hours, "
         "which change every season.", "Phone 555-0100; website acme.example."),
        # Text that mentions media but holds its own content
        ("Rewrite the email in a friendlier tone.", "Dear team, please find the attached report. I expect your "
         "comments on every section by Friday at noon, no exceptions.", "Hi team! I've attached the report..."),
        ("Convert the table to a bulleted list.", "Table: Name | Age\nBob | 32\nAna | 28", "- Bob, 32\n- Ana, 28"),
        ("Explain what this Python line does.", "img = Image.open('cat.png').convert('L')  # grayscale for the "
         "model input layer, then resize it to the expected shape of the network", "It opens cat.png as grayscale."),
        # "Output:" in a code answer is no second task
        ("Write a function that doubles a number, with an example.", "", "def double(n):\n    return 2 * n\n"
         "Input: 4\nOutput: 8"),
        ("Name a word that contains the letters n, o, i, n, p, u and t.", "", "Nonput is not a word; input is."),
        # Arithmetic that is right, rounded, or not plain
        ("What is 25 × 4?", "", "100"),
        # parentheses are part of the expression (these four were flagged in the released file's subset, wrongly)
        ("Find the answer to the following equation: (3+3)*3", "", "18"),
        ("Evaluate the expression 5 + (4 x 10).", "", "5 + (4 x 10) = 45."),
        ("Evaluate the following expression: 8 x (5 + 7).", "", "96"),
        ("Evaluate the following algebraic equation.", "2 (3 + 5)", "16"),  # implied product: not plain, not judged
        ("Calculate 5 + 3 * 2.", "", "5 + 3 * 2 = 5 + 6 = 11."),
        ("Compute 7 / 3, rounded to two decimals.", "", "2.33"),
        ("What is 1,234 + 766?", "", "The answer is 2,000."),
        ("Solve for x: 3x + 5 = 20.", "", "x = 5"),
        ("What is 20% of 50?", "", "10"),
        ("Convert 25m to km.", "", "0.025 km"),
        ("What is the date 2021-07-26 in words?", "", "July 26, 2021"),
        ("Explain why 2 + 2 = 4 and 3 + 3 = 6 follow the same rule.", "", "Both double a number: 4 and 6."),
        # Context that is there after all
        ("Rewrite the following sentence in the past tense: I walk to school every day.", "", "I walked to school."),
        ('Translate this sentence into French: "The cat is black."', "", "Le chat est noir."),
        # ... on a line of its own, or after a question (both in the released file)
        ("Translate this sentence from English to French\n\nHe is a great leader", "", "Il est un grand leader."),
        ("Is the following sentence true or false? Humans can breathe underwater.", "", "False."),
        ("Summarize the following article in one sentence.", "Bees pollinate crops.", "Bees help farming."),
        ("Write a story about the following characters and their journey.", "Tom and Ana", "Once upon a time..."),
        ("Describe the following concept to a child.", "", "Gravity pulls things down."),
        # An exact short answer equal to the input
        ("What is the past participle of the verb?", "Run", "Run"),
        ("Pick the word from the list that is a noun.", "apple", "apple"),
        ("Repeat the sentence exactly as it is.", "The cat sat.", "The cat sat."),
    ],
)  # fmt: skip
def test_clean_record_is_kept(instruction: str, task_input: str, output: str) -> None:
    """By these rules; the parser-format rules of filters.py judge some of these on their own terms (a code answer's
    "Output: 8" line is a header to `field_headers`)."""
    example, config = Example(instruction, task_input, output), FilterConfig()
    mine = (*defects.RULES, input_equals_output, unusable_input)
    assert [reason for rule in mine if (reason := rule(example, config)) is not None] == []


def test_no_false_positive_on_the_offline_teachers_clean_records() -> None:
    """The simulator's grammar writes well-formed tasks only (arithmetic computed, inputs present), 2,000 here;
    benchmarks/bench_clean.py measures the rate on 52K."""
    rng, config = random.Random(3), FilterConfig()
    flagged = []
    for _ in range(2_000):
        example = draw_task(rng)
        flagged += [(reason, example) for rule in RULES if (reason := rule(example, config)) is not None]
    assert flagged == []
