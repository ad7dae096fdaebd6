"""SFT evaluation and reporting: greedy samples before/after, eval.json + eval.md, and the model card."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.core.jsonio import write_json_atomic
from pipeline.sft.data import PROMPT_INPUT, PROMPT_NO_INPUT, format_prompt

EVAL_JSON = "eval.json"
EVAL_MD = "eval.md"
MODEL_CARD = "README.md"


def generate_samples(model: Any, tokenizer: Any, records: Sequence[dict[str, str]], max_new_tokens: int) -> list[str]:
    """Greedy responses to the Alpaca prompts of `records`, one at a time (no padding to get wrong)."""
    import torch
    from transformers import GenerationConfig

    # A fresh GenerationConfig: the base's own may ask for sampling (Llama-2 sets temperature and top_p)
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    was_training = model.training
    model.eval()
    responses = []
    with torch.no_grad():
        for record in records:
            prompt = format_prompt(record["instruction"], record["input"])
            encoded = tokenizer(prompt, return_tensors="pt").to(model.device)
            generated = model.generate(**encoded, generation_config=config)
            new_tokens = generated[0, encoded["input_ids"].shape[1] :]
            responses.append(tokenizer.decode(new_tokens, skip_special_tokens=True).strip())
    model.train(was_training)
    return responses


def perplexity(loss: float | None) -> float | None:
    """exp(loss), or None when there is no loss or it overflows."""
    if loss is None or loss > 700:
        return None
    return math.exp(loss)


def write_eval(output_dir: Path, report: dict[str, Any]) -> tuple[Path, Path]:
    """Write `eval.json` and `eval.md` beside the model; returns both paths."""
    json_path, md_path = output_dir / EVAL_JSON, output_dir / EVAL_MD
    write_json_atomic(json_path, report)
    md_path.write_text(render_eval(report), encoding="utf-8")
    return json_path, md_path


def render_eval(report: dict[str, Any]) -> str:
    """The evaluation as markdown: validation loss before and after, then each sample's two responses."""
    validation, train = report["validation"], report["train"]
    lines = [
        f"# Evaluation: {report['base_model']} + {report['method']} on {report['dataset']}",
        "",
        "| model | validation loss | perplexity |",
        "|---|---|---|",
        f"| base | {_number(validation['base_loss'])} | {_number(perplexity(validation['base_loss']))} |",
        f"| fine-tuned | {_number(validation['fine_tuned_loss'])} "
        f"| {_number(perplexity(validation['fine_tuned_loss']))} |",
        "",
        f"Validation: {validation['records']} records{' (carved from train)' if validation['carved'] else ''}"
        f"{_evaluated(validation)}; "
        f"loss on response tokens only. Training: {train['steps']} steps{_resumed(train)} on {train['records']} "
        f"records, {_number(train['seconds_per_step'])} s/step, final logged loss {_number(train['final_loss'])}.",
    ]
    for number, sample in enumerate(report["samples"], start=1):
        lines += ["", f"## Sample {number}", "", f"**Instruction:** {sample['instruction']}"]
        if sample["input"]:
            lines += ["", f"**Input:** {sample['input']}"]
        for label, key in (("Reference", "reference"), ("Before", "before"), ("After", "after")):
            lines += ["", f"**{label}:**", "", "```text", sample[key], "```"]
    return "\n".join(lines) + "\n"


def write_model_card(output_dir: Path, report: dict[str, Any]) -> Path:
    """A model card naming dataset, base model, method, hyper-parameters and the evaluation."""
    hyper = report["hyperparameters"]
    is_adapter = report["method"] in ("lora", "qlora")
    front = [
        "---",
        "library_name: " + ("peft" if is_adapter else "transformers"),
        "pipeline_tag: text-generation",
        "tags: [alpaca, sft, trl, alpaca-pipeline]",
        "---",
        "",
    ]
    hub_id = report["base_model"] if not Path(report["base_model_path"]).is_absolute() else None
    if hub_id:
        front.insert(1, f"base_model: {hub_id}")
    validation = report["validation"]
    kind = "all weights" if not is_adapter else "LoRA adapter"
    if report["outputs"]["merged"]:
        kind += "; merged standalone model in `merged/`"
    load_from = report["outputs"]["merged"] or report["outputs"]["model"]
    lines = [
        *front,
        f"# {Path(report['outputs']['model']).name}: {report['base_model']} fine-tuned the Alpaca way",
        "",
        f"- Dataset: `{report['dataset']}`"
        + (f" (card: `{report['dataset_card']}`)" if report["dataset_card"] else ""),
        f"- Base model: `{report['base_model']}` (loaded from `{report['base_model_path']}`)",
        f"- Method: {report['method']} ({kind})",
        f"- Trained: {report['train']['steps']} steps on {report['train']['records']} records "
        f"({_number(report['train']['seconds'])} s); validation loss {_number(validation['base_loss'])} (base) -> "
        f"{_number(validation['fine_tuned_loss'])} (fine-tuned) on {validation['records']} records",
        "",
        "## Prompt",
        "",
        "The published Alpaca template (stanford_alpaca `train.py`), with input:",
        "",
        "```text",
        PROMPT_INPUT,
        "```",
        "",
        "and without input (used when the input is empty):",
        "",
        "```text",
        PROMPT_NO_INPUT,
        "```",
        "",
        "The model writes the response after `### Response:` and ends it with the tokenizer's EOS token.",
        "",
        "## Hyper-parameters",
        "",
        "| name | value |",
        "|---|---|",
        *[f"| {name} | {_cell(value)} |" for name, value in hyper.items()],
        "",
        "## Use",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        f'model = AutoModelForCausalLM.from_pretrained("{load_from}")',
        f'tokenizer = AutoTokenizer.from_pretrained("{load_from}")',
        "```",
        "",
        f"Loading the adapter folder itself needs `peft` and the base model at `{report['base_model_path']}`."
        if is_adapter
        else "",
        "",
        f"Evaluation details and before/after samples: `{EVAL_MD}` and `{EVAL_JSON}`.",
        "",
        f"Versions: {', '.join(f'{name} {version}' for name, version in report['versions'].items())}.",
    ]
    path = output_dir / MODEL_CARD
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _resumed(train: dict[str, Any]) -> str:
    step = train.get("resumed_from_step")  # absent from reports written before checkpoints existed
    return "" if step is None else f" (resumed from the checkpoint at step {step})"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _cell(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def _evaluated(validation: dict[str, Any]) -> str:
    """ ", loss measured on the first N" when `eval_records` capped the validation records evaluated."""
    evaluated = validation.get("evaluated_records", validation["records"])
    return f", loss measured on the first {evaluated}" if evaluated < validation["records"] else ""
