"""Pairwise win rate of a fine-tuned model against a baseline, judged by an LLM (AlpacaEval-style).

The model answers an evaluation set (the project's own 111 instructions, self-instruct's user-oriented set, or an
AlpacaEval JSON file); the baseline is the base model answering the same set, or a file of answers. A judge compares
each pair twice, in both orders, to cancel position bias; ties are allowed. The report gives the win rate with a
bootstrap 95% interval, a length-controlled win rate (a logistic fit of the judge's preference on the length
difference, read at equal lengths) beside both answers' mean lengths, and every judgement. Answers and judgements
are journaled in the output folder, so an interrupted evaluation continues without asking twice; the judge calls
go through the review machinery (cache, rate limits, projection, `max_cost`).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from pipeline.core.errors import InputDataError, PipelineError
from pipeline.core.jsonio import append_durably, cut_torn_tail, read_jsonl, write_json_atomic
from pipeline.core.records import TeacherResponse
from pipeline.generation.prompts import load_template
from pipeline.review.job import Request, run_requests
from pipeline.review.prompts import ReviewPrompt, review_key
from pipeline.sft.data import format_prompt
from pipeline.teacher.cache import ResponseCache
from pipeline.teacher.config import TeacherConfig

log = logging.getLogger(__name__)

EVAL_SET = "eval-v1.jsonl"  # the project's own evaluation set (pipeline/templates), none of it from the seeds
PAIRWISE_VERSION = "pairwise-v1"
ANSWERS, JUDGEMENTS, REPORT_JSON, REPORT_MD = "answers.jsonl", "judgements.jsonl", "report.json", "report.md"
_VERDICT = re.compile(r"\b(?:better|winner|verdict|answer)\b\**\s*[:=]\**\s*\**\s*(A|B|tie|both|neither)\b", re.I)
BOOTSTRAP = 2000


def load_eval_set(path: str | Path | None = None) -> list[dict[str, str]]:
    """Evaluation items {id, instruction, input}: the project's set by default; a JSONL file of
    {instruction, input} or of self-instruct's user-oriented records ({instruction, instances: [{input}]}), or an
    AlpacaEval JSON list ({instruction, output, generator}).

    Raises:
        InputDataError: unreadable file, or a record without an instruction (file and line named).
    """
    if path is None:
        text, name = resources.files("pipeline").joinpath("templates", EVAL_SET).read_text("utf-8"), EVAL_SET
    else:
        try:
            text, name = Path(path).read_text(encoding="utf-8"), str(path)
        except OSError as error:
            raise InputDataError(f"{path}: cannot read the evaluation set ({error.strerror})") from None
    if text.lstrip().startswith("["):
        try:
            records = list(enumerate(json.loads(text), start=1))
        except ValueError as error:
            raise InputDataError(f"{name}: not a JSON list ({error})") from None
    else:
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append((number, json.loads(line)))
                except ValueError as error:
                    raise InputDataError(f"{name}:{number}: invalid JSON ({error})") from None
    items = []
    for number, record in records:
        if not isinstance(record, dict) or not isinstance(record.get("instruction"), str):
            raise InputDataError(f"{name}:{number}: expected an object with an 'instruction' string")
        task_input = record.get("input")
        if task_input is None and isinstance(record.get("instances"), list) and record["instances"]:
            task_input = record["instances"][0].get("input", "")  # self-instruct's user-oriented set
        items.append({"id": str(record.get("id", number)), "instruction": record["instruction"],
                      "input": task_input if isinstance(task_input, str) else ""})  # fmt: skip
    if not items:
        raise InputDataError(f"{name}: the evaluation set is empty")
    return items


def load_baseline_file(path: str | Path, items: Sequence[dict[str, str]]) -> dict[str, str]:
    """A baseline's answers by item id, from a JSON list of {instruction, output} (AlpacaEval's outputs format)."""
    try:
        records = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputDataError(f"{path}: cannot read the baseline's answers ({error})") from None
    if not isinstance(records, list):
        raise InputDataError(f"{path}: expected a JSON list of {{instruction, output}} objects")
    by_instruction = {}
    for number, record in enumerate(records, start=1):
        if not (isinstance(record, dict) and isinstance(record.get("instruction"), str)
                and isinstance(record.get("output"), str)):  # fmt: skip
            raise InputDataError(f"{path}: record {number}: expected {{'instruction': str, 'output': str}}")
        by_instruction[record["instruction"]] = record["output"]
    missing = [item["instruction"] for item in items if item["instruction"] not in by_instruction]
    if missing:
        raise InputDataError(f"{path}: no answer for {len(missing)} of {len(items)} instructions of the evaluation "
                             f"set (the first: {missing[0]!r})")  # fmt: skip
    return {item["id"]: by_instruction[item["instruction"]] for item in items}


def base_model_of(model_dir: Path) -> str:
    """The base model a folder `train` wrote was trained from (its train_request.json)."""
    for folder in (model_dir, model_dir.parent):
        request = folder / "train_request.json"
        if request.is_file():
            return json.loads(request.read_text(encoding="utf-8"))["config"]["base_model"]
    raise PipelineError(f"{model_dir}: no train_request.json, so no base model to compare with; pass --baseline FILE")


def answer_all(who: str, model: Any, tokenizer: Any, items: Sequence[dict[str, str]], journal: Path,
               max_new_tokens: int, chat_template: bool) -> dict[str, str]:  # fmt: skip
    """Greedy answers of `model` to `items`, journaled as (who, id) so a re-run answers only what is missing.
    `chat_template`: prompt through the tokenizer's own chat template (a base chat model), else the Alpaca prompt."""
    import torch

    done: dict[str, str] = {}
    if journal.exists():
        cut_torn_tail(journal)
        done = {r["id"]: r["answer"] for r in read_jsonl(journal) if r["who"] == who}
    with open(journal, "a", encoding="utf-8") as handle, torch.no_grad():
        for item in items:
            if item["id"] in done:
                continue
            if chat_template:
                content = item["instruction"] + (f"\n\n{item['input']}" if item["input"] else "")
                prompt = tokenizer.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                                       add_generation_prompt=True)  # fmt: skip
            else:
                prompt = format_prompt(item["instruction"], item["input"])
            encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=not chat_template).to(model.device)
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
            generated = model.generate(**encoded, max_new_tokens=max_new_tokens, do_sample=False, temperature=None,
                                       top_p=None, pad_token_id=pad)  # fmt: skip
            answer = tokenizer.decode(generated[0, encoded["input_ids"].shape[1] :], skip_special_tokens=True).strip()
            done[item["id"]] = answer
            append_durably(handle, [{"who": who, "id": item["id"], "answer": answer}])
    return done


def pairwise_prompt(item: dict[str, str], answer_a: str, answer_b: str) -> ReviewPrompt:
    text = Template(load_template(f"{PAIRWISE_VERSION}.txt")).substitute(
        instruction=item["instruction"].strip(), input=item["input"].strip() or "(none)",
        answer_a=answer_a.strip() or "(empty)", answer_b=answer_b.strip() or "(empty)",
    )  # fmt: skip
    system = load_template(f"{PAIRWISE_VERSION}.system.txt").strip()
    return ReviewPrompt(text, ({"role": "system", "content": system}, {"role": "user", "content": text}))


def parse_verdict(text: str) -> tuple[str | None, str]:
    """("A" | "B" | "tie", rationale), or (None, why) when the judge's answer names no verdict.

    >>> parse_verdict("Better: B\\nRationale: B answers the question.")
    ('B', 'B answers the question.')
    """
    found = {match.group(1).lower() for match in _VERDICT.finditer(text)}
    verdicts = {"a": "A", "b": "B", "tie": "tie", "both": "tie", "neither": "tie"}
    picked = {verdicts[word] for word in found}
    if len(picked) != 1:
        return None, "no verdict found" if not picked else f"several verdicts ({', '.join(sorted(picked))})"
    rationale = re.search(r"\brationale\b\**\s*[:=]\**\s*(.+)", text, re.I)
    return picked.pop(), (rationale.group(1).strip() if rationale else "")


def win_rates(judgements: Sequence[dict[str, Any]], lengths: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """Win rate (ties half) over items, each the mean of its readable orders; bootstrap 95% interval; a
    length-controlled win rate; counts; and how often the two orders agreed."""
    import numpy as np

    by_item: dict[str, list[float]] = {}
    for judgement in judgements:
        if judgement["model_score"] is not None:
            by_item.setdefault(judgement["id"], []).append(judgement["model_score"])
    ids = sorted(by_item)
    scores = np.array([np.mean(by_item[item]) for item in ids]) if ids else np.array([])
    if not len(scores):
        raise PipelineError("no readable judgement: the judge's answers named no verdict (see judgements.jsonl)")
    rng = np.random.default_rng(0)
    samples = rng.choice(scores, size=(BOOTSTRAP, len(scores)), replace=True).mean(axis=1)
    both = [by_item[item] for item in ids if len(by_item[item]) == 2]
    readable = [judgement for judgement in judgements if judgement["model_score"] is not None]
    differences = np.array([lengths[j["id"]][0] - lengths[j["id"]][1] for j in readable], dtype=float)
    targets = np.array([j["model_score"] for j in readable], dtype=float)
    low, high = np.percentile(samples, [2.5, 97.5])
    return {
        "examples": len(ids),
        "win_rate": round(100 * float(scores.mean()), 2),
        "ci95": [round(100 * float(low), 2), round(100 * float(high), 2)],
        "length_controlled_win_rate": round(100 * _length_controlled(differences, targets), 2),
        "wins": int((scores > 0.5).sum()), "ties": int((scores == 0.5).sum()), "losses": int((scores < 0.5).sum()),
        "orders_agree": round(sum(a == b for a, b in both) / len(both), 4) if both else None,
        "mean_words": {"model": round(float(np.mean([lengths[i][0] for i in ids])), 1),
                       "baseline": round(float(np.mean([lengths[i][1] for i in ids])), 1)},
    }  # fmt: skip


def _length_controlled(differences: Any, targets: Any) -> float:
    """P(model preferred) at equal length: a logistic fit of the preference on tanh(length difference / its
    spread), by Newton's method with a small ridge, read at a difference of 0 (AlpacaEval's idea, one feature)."""
    import numpy as np

    scale = float(np.std(differences)) or 1.0
    features = np.column_stack([np.ones(len(targets)), np.tanh(differences / scale)])
    weights = np.zeros(2)
    for _ in range(50):
        predicted = 1 / (1 + np.exp(-features @ weights))
        gradient = features.T @ (predicted - targets) + 1e-3 * weights
        hessian = (features * (predicted * (1 - predicted))[:, None]).T @ features + 1e-3 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-8:
            break
    return float(1 / (1 + math.exp(-weights[0])))


def evaluate(
    model_dir: str | Path,
    out_dir: str | Path,
    judge: TeacherConfig,
    api_key: str,
    baseline: str = "base",
    eval_set: str | Path | None = None,
    max_examples: int | None = None,
    max_new_tokens: int = 256,
    concurrency: int = 16,
    max_cost: float | None = None,
    prices: dict[str, tuple[float, float]] | None = None,
    cache: ResponseCache | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Answer the evaluation set with the model and the baseline, judge every pair in both orders, and write
    answers.jsonl, judgements.jsonl, report.json and report.md to `out_dir`. Returns the report."""
    from pipeline.sft.model import load_model, load_tokenizer, resolve_base_model
    from pipeline.sft.use import find_model, load_for_chat

    folder = find_model(model_dir)
    items = load_eval_set(eval_set)[:max_examples]
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    model, tokenizer = load_for_chat(folder)
    model_answers = answer_all("model", model, tokenizer, items, out / ANSWERS, max_new_tokens, chat_template=False)
    del model
    if baseline == "base":
        base_name = base_model_of(folder if (folder / "train_request.json").is_file() else folder.parent)
        base_path = resolve_base_model(base_name)
        base, base_tokenizer = load_model(base_path, "float32", quantize_4bit=False), load_tokenizer(base_path)
        baseline_name = f"base model {base_name}"
        base_answers = answer_all("baseline", base, base_tokenizer, items, out / ANSWERS, max_new_tokens,
                                  chat_template=bool(getattr(base_tokenizer, "chat_template", None)))  # fmt: skip
        del base
    else:
        base_answers, baseline_name = load_baseline_file(baseline, items), f"answers in {baseline}"

    requests = []
    for item in items:
        pair = {"model": model_answers[item["id"]], "baseline": base_answers[item["id"]]}
        for first in ("model", "baseline"):
            second = "baseline" if first == "model" else "model"
            key = review_key(PAIRWISE_VERSION, judge.model, item["instruction"], item["input"], pair[first],
                             pair[second])  # fmt: skip
            about = {
                "id": item["id"],
                "instruction": item["instruction"],
                "model_is": "A" if first == "model" else "B",
            }
            requests.append(Request(key, pairwise_prompt(item, pair[first], pair[second]), about))

    def record(request: Request, response: TeacherResponse) -> dict[str, Any]:
        verdict, rationale = parse_verdict(response.text)
        model_is = request.about["model_is"]
        score = None if verdict is None else 0.5 if verdict == "tie" else float(verdict == model_is)
        return {"key": request.key, **request.about, "verdict": verdict, "model_score": score,
                "rationale": rationale, "judge_model": judge.model, "prompt_version": PAIRWISE_VERSION,
                "response": response.to_dict()}  # fmt: skip

    stats = run_requests("pairwise judge", requests, judge, api_key, out / JUDGEMENTS, record, concurrency=concurrency,
                         max_cost=max_cost, prices=prices, cache=cache, progress=progress)  # fmt: skip
    keys = {request.key for request in requests}
    judgements = [j for j in read_jsonl(out / JUDGEMENTS, recover_tail=True) if j["key"] in keys]
    lengths = {item["id"]: (len(model_answers[item["id"]].split()), len(base_answers[item["id"]].split()))
               for item in items}  # fmt: skip
    report = {
        "model": str(folder), "baseline": baseline_name, "judge_model": judge.model,
        "eval_set": str(eval_set) if eval_set else f"alpaca-pipeline {EVAL_SET}", "prompt_version": PAIRWISE_VERSION,
        **win_rates(judgements, lengths),
        "unreadable_judgements": sum(j["verdict"] is None for j in judgements),
        "judge_cost_usd": stats.cost_usd, "stopped": stats.stopped,
    }  # fmt: skip
    write_json_atomic(out / REPORT_JSON, report)
    (out / REPORT_MD).write_text(render_report(report), encoding="utf-8")
    return report


def render_report(report: dict[str, Any]) -> str:
    low, high = report["ci95"]
    agree = "n/a" if report["orders_agree"] is None else f"{report['orders_agree']:.0%}"
    return "\n".join([
        "# Win rate", "",
        f"**{report['win_rate']:.1f}%** (95% bootstrap interval {low:.1f}-{high:.1f}) for `{report['model']}` against "
        f"the {report['baseline']}, over {report['examples']} instructions of {report['eval_set']}, judged by "
        f"`{report['judge_model']}` in both orders (ties count half).", "",
        "| measure | value |", "|---|---|",
        f"| win rate | {report['win_rate']:.1f}% |",
        f"| length-controlled win rate | {report['length_controlled_win_rate']:.1f}% |",
        f"| wins / ties / losses | {report['wins']} / {report['ties']} / {report['losses']} |",
        f"| both orders agree | {agree} |",
        f"| mean answer length (words) | model {report['mean_words']['model']}, baseline "
        f"{report['mean_words']['baseline']} |",
        f"| unreadable judgements | {report['unreadable_judgements']} |", "",
        "Every judgement, with the judge's rationale, is in `judgements.jsonl`; both models' answers in "
        "`answers.jsonl`.",
    ]) + "\n"  # fmt: skip
