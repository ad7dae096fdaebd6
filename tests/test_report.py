"""The data report: every figure and table for a small real run, deterministic PNGs, and the verb-object heuristic."""

from __future__ import annotations

import base64
import re
import struct
from pathlib import Path

import matplotlib
import pytest

from pipeline.core.runfiles import REPORT_MD
from pipeline.dataset import figures
from pipeline.dataset.build import build_dataset
from pipeline.dataset.report import (
    FIGURES,
    INLINE_WIDTH,
    inline_figures,
    length_stats,
    request_progress,
    top_verbs,
)
from pipeline.dataset.verbs import verb_object
from pipeline.generation.config import GenerateConfig
from pipeline.generation.generate import generate
from pipeline.generation.seeds import load_seed_tasks
from pipeline.teacher.client import TeacherConfig

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def report_dir(teacher_server, small_seed_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of a small run made from the 3-task seed file."""
    out = tmp_path_factory.mktemp("report") / "run"
    teacher = TeacherConfig(model="simulated-teacher", base_url=teacher_server.base_url)
    generate(GenerateConfig(num_instructions=30, num_demonstrations=2), teacher, "sk-test", small_seed_path,
             load_seed_tasks(small_seed_path), out, progress=False)  # fmt: skip
    return build_dataset(out).report.parent


def test_a_small_run_gets_every_figure_and_table(report_dir: Path) -> None:
    markdown = (report_dir / REPORT_MD).read_text(encoding="utf-8")
    assert [name for name, _ in FIGURES] == ["lengths.png", "rouge.png", "verbs.png", "keep_rate.png", "rejects.png"]
    for name, _ in FIGURES:
        width, height = png_size(report_dir / name)
        assert 1000 <= width <= 2500 and 300 <= height <= 2500, (name, width, height)
        assert f"]({name})" in markdown
        assert b"matplotlib" not in (report_dir / name).read_bytes()  # no version stamp in the file
    sections = ("## Lengths (words)", "## Novelty", "## Leading verbs and their objects", "## Keep rate over the run",
                "## Rejected candidates", "## Quality flags", "| Kept | 30 (")  # fmt: skip
    assert all(section in markdown for section in sections)


def test_inlined_figures_are_small_pngs_of_the_same_pictures(report_dir: Path) -> None:
    markdown = (report_dir / REPORT_MD).read_text(encoding="utf-8")
    inlined = inline_figures(markdown, report_dir)
    embedded = re.findall(r"!\[([^\]]*)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", inlined)
    assert [alt for alt, _ in embedded] == re.findall(r"!\[([^\]]*)\]\(\w+\.png\)", markdown)  # all five, in order
    for (name, _), (_, data) in zip(FIGURES, embedded, strict=True):
        small = base64.b64decode(data)
        width, height = struct.unpack(">II", small[16:24])
        full_width, full_height = png_size(report_dir / name)
        assert small[:8] == PNG_MAGIC and width == INLINE_WIDTH and len(small) < 100_000
        assert abs(height / width - full_height / full_width) < 0.01  # scaled, not cropped
    assert inline_figures("![x](missing.png)", report_dir) == "![x](missing.png)"  # nothing to embed: left as is


def test_figures_are_byte_identical_whatever_the_users_style(tmp_path: Path) -> None:
    verbs = (("write", 5, (("story", 3), ("poem", 1))), ("give", 2, ()))
    figures.draw_verbs(tmp_path / "a.png", verbs, "subtitle")
    with matplotlib.rc_context({"font.size": 30, "axes.facecolor": "black", "figure.dpi": 40}):
        figures.draw_verbs(tmp_path / "b.png", verbs, "subtitle")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_figures_of_empty_data_say_so_instead_of_failing(tmp_path: Path) -> None:
    figures.draw_lengths(tmp_path / "lengths.png", {"instruction": [3], "input": [0], "output": [200]}, 100)
    figures.draw_rouge(tmp_path / "rouge.png", [0.2], [], 0.7)
    figures.draw_verbs(tmp_path / "verbs.png", (), "none")
    figures.draw_keep_rate(tmp_path / "keep_rate.png", [])
    figures.draw_rejects(tmp_path / "rejects.png", {}, 1)
    assert all(png_size(tmp_path / f"{name}.png") for name in ("lengths", "rouge", "verbs", "keep_rate", "rejects"))


@pytest.mark.parametrize(
    ("instruction", "expected"),
    [
        ("Generate a list of five smart home gadgets", ("generate", "list")),
        ("Write a short story about a lost key.", ("write", "story")),
        ("Give me three tips for staying healthy.", ("give", "tips")),
        ("Rewrite the following sentence so it is passive.", ("rewrite", "sentence")),
        ("Classify the following sentence as positive or negative.", ("classify", "sentence")),
        ("Come up with a catchy slogan for a gym.", ("come up with", "slogan")),
        ("Please write an email to my boss.", ("write", "email")),
        ("Explain why the sky is blue.", ("explain", None)),
        ("What is the capital of France?", (None, None)),
        ("Is this statement true or false?", (None, None)),
        ("In 60 words or fewer, produce a humorous product description for a coffee grinder.",
         ("produce", "description")),
        ("As a mountain guide, find five main concepts from this paragraph.", ("find", "concepts")),
        ("Quick task: sort these test scores in descending order.", ("sort", "scores")),
        ("Here is a request from nurses: suggest a memorable title for this paragraph.", ("suggest", "title")),
        ("Could you compose a neutral ballad about project management?", ("compose", "ballad")),
        ("Without any jargon, Wen has 42 cards and gives 2 to Ben.", (None, None)),  # a name after a lead-in
        ("Farid has 24 pencils and gives 8 to Lena. How many are left?", (None, None)),  # a subject, not a verb
        ("As a history teacher, work out roughly how many streetlights there are.", ("work out", None)),
        ("Compose a persuasive reply to this email.", ("compose", "reply")),
        ("Elena buys 5 melons that cost $33 each. How much does Elena pay?", (None, None)),  # a name used again
        ("Explain recursion. Explain it simply.", ("explain", "recursion")),
        ("Given a list of numbers, sort them in ascending order.", ("sort", None)),
        ("", (None, None)),
    ],
)  # fmt: skip
def test_verb_object_heuristic(instruction: str, expected: tuple[str | None, str | None]) -> None:
    assert verb_object(instruction) == expected


def test_top_verbs_count_and_break_ties_alphabetically() -> None:
    instructions = ["Write a poem.", "Write a story.", "Write a poem about tea.", "Name a fruit.", "Give an example.",
                    "What is love?"]  # fmt: skip
    verbs, with_verb = top_verbs(instructions, verbs=2, objects=1)
    assert with_verb == 5
    assert verbs == (("write", 3, (("poem", 2),)), ("give", 1, (("example", 1),)))
    assert top_verbs(reversed(instructions), verbs=2, objects=1) == (verbs, with_verb)  # order does not matter


def test_request_progress_counts_candidates_per_request() -> None:
    kept = [{"request_index": 0}, {"request_index": 0}, {"request_index": 2}]
    rejected = [{"request_index": 2}, {"request_index": 1}, {"request_index": 2}]
    assert request_progress(kept, rejected) == [(0, 2, 2), (1, 0, 1), (2, 1, 3)]


def test_length_stats() -> None:
    stats = length_stats("input", [0, 0, 4, 10])
    assert (stats.examples, stats.empty, stats.minimum, stats.maximum) == (4, 2, 0, 10)
    assert (stats.median, stats.mean, stats.p90) == (2.0, 3.5, 8.2)
