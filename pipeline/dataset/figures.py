"""The report's figures, drawn with matplotlib's object API on the Agg canvas into byte-identical PNGs.

No pyplot: figures are built on `matplotlib.figure.Figure` and saved through the Agg canvas, so the global
backend of a notebook that imports this stays as it was. Each figure is drawn under matplotlib's default style
(a user's matplotlibrc cannot change the output) and saved without the "Software" PNG text chunk (which names
the matplotlib version), so the same data gives the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import matplotlib.style
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

DPI = 150
MIN_OUTER_DEGREES = 2.2  # a thinner wedge cannot hold a 7-point label
BLUE, ORANGE, GREY, RED = "#4C72B0", "#DD8452", "#8C8C8C", "#C44E52"
STYLE = {
    "font.size": 10, "axes.titlesize": 12, "axes.labelsize": 10.5, "figure.titlesize": 13,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
    "axes.axisbelow": True, "legend.frameon": False,
}  # fmt: skip


@contextmanager
def _figure(path: Path, width: float, height: float, **subplots: object) -> Iterator[tuple[Figure, object]]:
    """A figure with its axes; saved to `path` as a deterministic PNG when the block ends."""
    with matplotlib.style.context("default"), matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.subplots(**subplots)
        yield figure, axes
        figure.savefig(path, format="png", dpi=DPI, metadata={"Software": None})


def _empty(axes: object, message: str) -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes, color=GREY, fontsize=11)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.grid(False)
    for spine in axes.spines.values():
        spine.set_visible(False)


def draw_lengths(path: Path, lengths: dict[str, Sequence[int]], limit: int) -> None:
    """Histograms of instruction, input and output lengths in words; empty inputs are counted, not plotted."""
    with _figure(path, 13, 4.2, ncols=3) as (figure, axes):
        figure.suptitle("Length of instructions, inputs and outputs (words)")
        for ax, (field, values) in zip(axes, lengths.items(), strict=True):
            shown = [value for value in values if value > 0] if field == "input" else list(values)
            title = field.capitalize()
            if field == "input":
                title += f" ({len(shown):,} of {len(values):,} non-empty)"
            if not shown:
                ax.set_title(title)
                _empty(ax, "every input is empty")
                continue
            width = max(1, math.ceil(max(shown) / 40))
            ax.hist(shown, bins=np.arange(0, max(shown) + 2 * width, width), color=BLUE, alpha=0.85)
            median = float(np.median(shown))
            ax.set_title(f"{title}, median {median:g}")
            ax.axvline(median, color="black", linestyle="--", linewidth=1)
            if max(shown) > limit:
                ax.axvline(limit, color=RED, linestyle=":", linewidth=1.5, label=f"{limit}-word limit of the prompt")
                ax.legend(loc="best")
            ax.set_xlabel("words (dashed line: median)")
            ax.set_ylabel("examples")
            ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))


def draw_rouge(path: Path, kept: Sequence[float], dropped: Sequence[float], threshold: float) -> None:
    """The self-instruct figure: each new instruction's max ROUGE-L to the pool, with the novelty threshold."""
    with _figure(path, 9, 4.8) as (figure, ax):
        bins = np.linspace(0, 1, 41)
        ax.hist(kept, bins=bins, color=BLUE, alpha=0.85, label=f"kept ({len(kept):,})")
        if dropped:
            label = f"dropped as near-duplicate ({len(dropped):,})"
            ax.hist(dropped, bins=bins, color=ORANGE, alpha=0.85, label=label)
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1.2, label=f"threshold {threshold:g}")
        ax.set_xlim(0, 1)
        ax.set_title("Similarity of each new instruction to the closest earlier one (seeds included)")
        ax.set_xlabel("max ROUGE-L F-measure to the pool")
        ax.set_ylabel("instructions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        ax.legend(loc="best")


def draw_verbs(path: Path, verbs: Sequence[tuple[str, int, Sequence[tuple[str, int]]]], subtitle: str) -> None:
    """The self-instruct verb-noun sunburst: top verbs (inner ring), their top direct objects (outer ring).

    `verbs` holds (verb, instructions with it, [(object, instructions with both)...]) by decreasing count.
    """
    with _figure(path, 9, 9.6) as (figure, ax):
        figure.suptitle("Leading verbs of the instructions (inner) and their direct objects (outer)")
        ax.set_title(subtitle, fontsize=9.5, color="#444444")
        ax.set_aspect("equal")
        ax.axis("off")
        if not verbs:
            _empty(ax, "no instruction starts with a recognized verb")
            return
        palette = matplotlib.colormaps["tab20"]
        total = sum(count for _, count, _ in verbs)
        inner_sizes, inner_colors, outer_sizes, outer_colors, outer_labels = [], [], [], [], []
        for rank, (_, count, objects) in enumerate(verbs):
            color = np.array(palette(rank % 20))
            inner_sizes.append(count)
            inner_colors.append(color)
            labelled = [(name, share) for name, share in objects if 360 * share / total >= MIN_OUTER_DEGREES]
            for name, share in labelled:  # an object too thin to name joins the blank remainder
                outer_sizes.append(share)
                outer_colors.append(0.55 * color + 0.45)  # a lighter shade of the verb's colour
                outer_labels.append(name)
            rest = count - sum(share for _, share in labelled)
            if rest > 0:  # other objects, or none: a blank wedge keeps the outer ring aligned with the inner
                outer_sizes.append(rest)
                outer_colors.append((0.96, 0.96, 0.96, 1.0))
                outer_labels.append("")
        edge = {"edgecolor": "white", "linewidth": 0.8}
        ax.pie(inner_sizes, radius=0.62, colors=inner_colors, startangle=90, counterclock=False,
               wedgeprops={**edge, "width": 0.34})  # fmt: skip
        ax.pie(outer_sizes, radius=1.0, colors=outer_colors, startangle=90, counterclock=False,
               wedgeprops={**edge, "width": 0.38})  # fmt: skip
        _ring_labels(ax, inner_sizes, [verb for verb, _, _ in verbs], 0.45, 8.5, min_degrees=3.0)
        _ring_labels(ax, outer_sizes, outer_labels, 0.81, 7, min_degrees=0)
        ax.text(0, 0, f"{total:,} instructions\nwith these\n{len(verbs)} verbs", ha="center", va="center", fontsize=10)
        ax.set_xlim(-1.05, 1.05)
        ax.set_ylim(-1.05, 1.05)


def _ring_labels(ax: object, sizes: Sequence[int], labels: Sequence[str], radius: float, fontsize: float,
                 min_degrees: float) -> None:  # fmt: skip
    """Radial labels at the middle of each wedge large enough to hold one, reading outwards on both sides."""
    total = sum(sizes)
    start = 90.0  # the pies start at 12 o'clock and run clockwise
    for size, label in zip(sizes, labels, strict=True):
        sweep = 360.0 * size / total
        middle = start - sweep / 2
        start -= sweep
        if not label or sweep < min_degrees:
            continue
        angle = math.radians(middle)
        rotation = middle % 360
        if 90 < rotation < 270:
            rotation -= 180  # keep text upright on the left half
        ax.text(radius * math.cos(angle), radius * math.sin(angle), label, rotation=rotation,
                rotation_mode="anchor", ha="center", va="center", fontsize=fontsize)  # fmt: skip


def draw_keep_rate(path: Path, requests: Sequence[tuple[int, int, int]]) -> None:
    """Kept examples and keep rate over the run, by request index; `requests` holds (index, kept, candidates)."""
    with _figure(path, 10, 6.2, nrows=2, sharex=True) as (figure, (top, bottom)):
        figure.suptitle("Progress over the run, in request order")
        if not requests:
            _empty(top, "no request was processed")
            _empty(bottom, "")
            return
        index = np.array([r[0] for r in requests])
        kept = np.array([r[1] for r in requests], dtype=float)
        candidates = np.array([r[2] for r in requests], dtype=float)
        top.plot(index, np.cumsum(kept), color=BLUE, linewidth=2, label="kept examples")
        top.plot(index, np.cumsum(candidates), color=GREY, linewidth=1.5, linestyle="--", label="candidates")
        top.set_ylabel("cumulative count")
        top.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        top.legend(loc="upper left")
        has = candidates > 0
        rate = 100 * kept[has] / candidates[has]
        window = len(requests) // 20  # smooth over ~5% of the run
        if window > 1:
            bottom.scatter(index[has], rate, s=10, color=BLUE, alpha=0.35, label="one request")
            kept_sum = np.convolve(kept, np.ones(window), "valid")
            rolling = 100 * kept_sum / np.maximum(np.convolve(candidates, np.ones(window), "valid"), 1)
            bottom.plot(index[window - 1 :], rolling, color=BLUE, linewidth=2, label=f"rolling, {window} requests")
        else:
            bottom.plot(index[has], rate, color=BLUE, marker="o", markersize=3, linewidth=1.2, label="per request")
        overall = 100 * kept.sum() / max(candidates.sum(), 1)
        bottom.axhline(overall, color="black", linestyle=":", linewidth=1, label=f"whole run {overall:.0f}%")
        bottom.set_ylim(-3, 103)
        bottom.set_ylabel("keep rate (%)")
        bottom.set_xlabel("request index")
        bottom.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        bottom.legend(loc="lower left", ncols=3)


def draw_rejects(path: Path, reasons: dict[str, int], candidates: int) -> None:
    """Rejected candidates per drop reason, largest first."""
    ordered = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    with _figure(path, 9, 1.6 + 0.38 * max(len(ordered), 1)) as (figure, ax):
        total = sum(reasons.values())
        ax.set_title(f"Rejected candidates by reason ({total:,} of {candidates:,} candidates)")
        if not ordered:
            _empty(ax, "no candidate was rejected")
            return
        names = [name for name, _ in ordered][::-1]
        counts = [count for _, count in ordered][::-1]
        bars = ax.barh(names, counts, color=[ORANGE if n == "near_duplicate" else BLUE for n in names])
        labels = [f"{count:,} ({100 * count / max(candidates, 1):.1f}%)" for count in counts]
        ax.bar_label(bars, labels=labels, padding=3, fontsize=9)
        ax.set_xlim(0, max(counts) * 1.22)
        ax.set_xlabel("candidates (share of all candidates)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        ax.grid(axis="y", visible=False)


def draw_scores(path: Path, scores: Sequence[float], threshold: float | None, rubric: str) -> None:
    """The judge's scores in half-point bins (AlpaGasus's figure), with the threshold the dataset applied."""
    with _figure(path, 9, 4.8) as (figure, ax):
        bins = np.arange(0, 5.51, 0.5) - 0.25
        kept = [score for score in scores if threshold is None or score >= threshold]
        dropped = [score for score in scores if threshold is not None and score < threshold]
        ax.hist(kept, bins=bins, color=BLUE, alpha=0.85, label=f"kept ({len(kept):,})")
        if dropped:
            ax.hist(
                dropped, bins=bins, color=ORANGE, alpha=0.85, label=f"dropped below the threshold ({len(dropped):,})"
            )
        if threshold is not None:
            ax.axvline(
                threshold - 0.25, color="black", linestyle="--", linewidth=1.2, label=f"threshold {threshold:g}"
            )
        ax.set_xlim(-0.5, 5.5)
        ax.set_xticks(np.arange(0, 5.01, 0.5))
        ax.set_title(f"LLM judge scores ({rubric}, 0-5)")
        ax.set_xlabel("score")
        ax.set_ylabel("examples")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        ax.legend(loc="upper left")


def draw_score_lengths(path: Path, points: Sequence[tuple[float, int]], threshold: float | None) -> None:
    """Score against output length, to see whether the judge favours long answers (a known judge bias)."""
    with _figure(path, 9, 4.8) as (figure, ax):
        rng = np.random.default_rng(0)  # a fixed jitter, so the same data draws the same figure
        scores = np.array([score for score, _ in points], dtype=float)
        words = np.array([length for _, length in points], dtype=float)
        ax.scatter(words, scores + rng.uniform(-0.12, 0.12, len(scores)), s=10, alpha=0.5, color=BLUE)
        if threshold is not None:
            ax.axhline(threshold, color="black", linestyle="--", linewidth=1.2, label=f"threshold {threshold:g}")
            ax.legend(loc="lower right")
        ax.set_ylim(-0.5, 5.5)
        ax.set_title("Judge score against output length (scores jittered for visibility)")
        ax.set_xlabel("output words")
        ax.set_ylabel("score")
