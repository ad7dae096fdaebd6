"""Using a trained model: find it (a model folder, its merged copy, or a models folder's latest version), load it
(a full model, or a LoRA adapter on its base), stream answers to Alpaca prompts, and export it for Ollama."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.errors import InputDataError
from pipeline.sft.data import PROMPT_NO_INPUT, format_prompt
from pipeline.sft.folder import LATEST

ADAPTER_CONFIG = "adapter_config.json"
MODELFILE = "Modelfile"


@dataclass(frozen=True, slots=True)
class Sampling:
    """How to generate: greedy when `temperature` is 0; None takes the model's generation_config.json."""

    max_new_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None


def find_model(path: str | Path) -> Path:
    """The model folder to load for `path`: a models folder's latest version, and a merged copy over its adapter.

    Raises:
        InputDataError: `path` holds no model.
    """
    folder = Path(path).expanduser().resolve()
    if (folder / LATEST).is_file():  # a models folder of versions: the newest
        folder = Path(json.loads((folder / LATEST).read_text(encoding="utf-8"))["model_dir"])
    if (folder / "merged" / "config.json").is_file():
        return folder / "merged"
    if (folder / "config.json").is_file() or (folder / ADAPTER_CONFIG).is_file():
        return folder
    raise InputDataError(
        f"{folder}: not a model folder (expected config.json, {ADAPTER_CONFIG} or {LATEST}); "
        "pass the folder `train` wrote, or the `models/` folder of a run"
    )


def load_for_chat(path: str | Path) -> tuple[Any, Any]:
    """The model (an adapter is loaded on the base it names) and its tokenizer, ready to generate on the CPU/GPU."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = find_model(path)
    if (folder / ADAPTER_CONFIG).is_file():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(str(folder))
    else:
        model = AutoModelForCausalLM.from_pretrained(str(folder))
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    return model, AutoTokenizer.from_pretrained(str(folder))


def stream_answer(model: Any, tokenizer: Any, instruction: str, task_input: str, sampling: Sampling) -> Iterator[str]:
    """The response to one Alpaca prompt, piece by piece as it is generated (transformers' TextIteratorStreamer)."""
    from transformers import TextIteratorStreamer

    encoded = tokenizer(format_prompt(instruction, task_input), return_tensors="pt").to(model.device)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    settings: dict[str, Any] = {"streamer": streamer, "pad_token_id": tokenizer.pad_token_id or tokenizer.eos_token_id}
    if sampling.max_new_tokens is not None:
        settings["max_new_tokens"] = sampling.max_new_tokens
    if sampling.temperature == 0:
        settings.update(do_sample=False, temperature=None, top_p=None)
    elif sampling.temperature is not None:
        settings.update(do_sample=True, temperature=sampling.temperature)
    if sampling.top_p is not None and sampling.temperature != 0:
        settings["top_p"] = sampling.top_p
    failure: list[BaseException] = []

    def generate() -> None:
        try:
            model.generate(**encoded, **settings)
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            failure.append(error)
            streamer.end()

    thread = threading.Thread(target=generate, daemon=True)
    thread.start()
    yield from streamer
    thread.join()
    if failure:
        raise failure[0]


def export_ollama(path: str | Path, out_dir: str | Path) -> Path:
    """Write `out_dir/Modelfile` for `ollama create NAME -f Modelfile`: FROM the model's full safetensors folder (an
    adapter without a merged copy is merged into `out_dir/merged` first), the Alpaca TEMPLATE, and its stops.

    Ollama's chat has no input field: the template is Alpaca's no-input prompt; put any input in the message.
    """
    from transformers import AutoTokenizer

    folder = find_model(path)
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if (folder / ADAPTER_CONFIG).is_file():
        from pipeline.sft.model import merge_adapter

        base = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))["base_model_name_or_path"]
        merge_adapter(base, folder, out / "merged", "float32", tokenizer)
        folder = out / "merged"
    head, tail = PROMPT_NO_INPUT.split("{instruction}")
    stops = ["### Instruction:", *([tokenizer.eos_token] if tokenizer.eos_token else [])]
    lines = [
        f"FROM {folder}",
        f'TEMPLATE """{head}{{{{ .Prompt }}}}{tail}{{{{ .Response }}}}"""',
        *(f"PARAMETER stop {json.dumps(stop)}" for stop in stops),
    ]
    modelfile = out / MODELFILE
    modelfile.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return modelfile
