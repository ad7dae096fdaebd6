"""Benchmark: fine-tuning speed and memory per method (full, LoRA, QLoRA) with `alpaca-pipeline train`.

Makes a dataset with the offline teacher, then trains each method for a few optimizer steps in a process of its
own (so each peak memory is its own) and prints seconds per step, training tokens per second, peak memory (GPU
memory allocated under CUDA, the process's resident memory otherwise) and the validation loss before and after.
The same script gives the CPU figures here and the GPU figures on a machine with CUDA.

    python benchmarks/bench_sft.py                                     # smollm2-135m, lora and full, 6 steps
    python benchmarks/bench_sft.py --methods lora,full,qlora --steps 30 --batch-size 8 --dtype bfloat16   # GPU
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

INTERNAL = ("single", "run", "out", "methods", "examples")  # options the parent does not pass on to each method


def make_dataset(root: Path, examples: int) -> Path:
    """A run of the offline teacher with its dataset built; returns the run folder."""
    from flows.endpoint import resolve_endpoint
    from pipeline.dataset.build import build_dataset
    from pipeline.generation.config import GenerateConfig
    from pipeline.generation.generate import generate
    from pipeline.generation.seeds import default_seed_path, load_seed_tasks
    from pipeline.teacher.client import TeacherConfig

    run = root / "run"
    with resolve_endpoint(None, None) as endpoint:
        teacher = TeacherConfig(model=endpoint.model, base_url=endpoint.base_url)
        seeds = default_seed_path()
        generate(GenerateConfig(num_instructions=examples), teacher, endpoint.api_key, seeds, load_seed_tasks(seeds),
                 run, progress=False)  # fmt: skip
    build_dataset(run, validation_size=0.05)
    return run


def train_once(args: argparse.Namespace, method: str) -> dict[str, object]:
    """Train one method in this process and measure it."""
    import torch

    from pipeline.sft.data import load_sft_data, to_prompt_completion
    from pipeline.sft.finetune import TrainConfig, train
    from pipeline.sft.model import load_tokenizer, resolve_base_model

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    config = TrainConfig(
        base_model=args.base_model, method=method, max_steps=args.steps, batch_size=args.batch_size, grad_accum=1,
        max_length=args.max_length, dtype=args.dtype, eval_samples=0, save_steps=0, threads=args.threads,
    )  # fmt: skip
    result = train(args.run, Path(args.out) / method, config)
    report = result.report["train"]
    # Tokens per step: the batches are drawn from the training records, so their mean length stands for them.
    tokenizer = load_tokenizer(resolve_base_model(args.base_model))
    records = load_sft_data(args.run).train
    lengths = [
        min(len(tokenizer(pair["prompt"] + pair["completion"])["input_ids"]) + 1, args.max_length)
        for pair in map(to_prompt_completion, records)
    ]
    tokens_per_step = args.batch_size * sum(lengths) / len(lengths)
    if cuda:
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "method": method,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "steps": report["steps"],
        "seconds_per_step": report["seconds_per_step"],
        "tokens_per_second": tokens_per_step / report["seconds_per_step"],
        "peak_mb": peak_mb,
        "memory": "GPU allocated" if cuda else "process RSS",
        "base_loss": result.report["validation"]["base_loss"],
        "fine_tuned_loss": result.report["validation"]["fine_tuned_loss"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-model", default="smollm2-135m", help="a model folder, a hub id or smollm2-135m")
    parser.add_argument("--methods", default="lora,full", help="comma-separated: full, lora, qlora (CUDA)")
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps per method")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads [default: 1]")
    parser.add_argument("--examples", type=int, default=200, help="examples the offline teacher makes")
    parser.add_argument("--single", help=argparse.SUPPRESS)  # internal: train this method and print JSON
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        print(json.dumps(train_once(args, args.single)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        run = make_dataset(Path(tmp), args.examples)
        rows = []
        for method in args.methods.split(","):
            passed = {name: value for name, value in vars(args).items() if value is not None and name not in INTERNAL}
            options = [f"--{name.replace('_', '-')}={value}" for name, value in passed.items()]
            command = [sys.executable, __file__, "--single", method, "--run", str(run), "--out", tmp, *options]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                print(f"{method}: failed\n{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ''}")
                continue
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{args.base_model}, batch {args.batch_size}, max length {args.max_length}, {args.dtype} weights, "
          f"{args.steps} steps per method")  # fmt: skip
    for row in rows:
        print(
            f"  {row['method']:>5} on {row['device']}: {row['seconds_per_step']:.3f} s/step, "
            f"{row['tokens_per_second']:,.0f} tokens/s, peak {row['peak_mb']:,.0f} MB ({row['memory']}), "
            f"validation loss {row['base_loss']:.3f} -> {row['fine_tuned_loss']:.3f}"
        )


if __name__ == "__main__":
    main()
