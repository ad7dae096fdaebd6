"""Shared fixtures: the offline teacher on a free loopback port, and small seed files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

import flows  # noqa: F401 - before any test imports prefect: Prefect's environment (offline, library loggers)

# Tests never touch the user's response cache.
os.environ["ALPACA_PIPELINE_CACHE"] = str(Path(tempfile.mkdtemp(prefix="alpaca-cache-")) / "teacher.sqlite")

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def small_seed_path() -> Path:
    return DATA / "self_instruct_format.jsonl"


@pytest.fixture(scope="session")
def teacher_server():
    """One offline teacher for the session; tests that inject faults use their own."""
    from pipeline.simulator.server import SimulatorServer

    with SimulatorServer() as server:
        yield server


@pytest.fixture(scope="session")
def request_hash():
    """The body hash the offline teacher records for request i of a run with default settings."""
    import json

    from pipeline.generation.prompts import prompt_for_request, request_seed, stop_sequences
    from pipeline.generation.seeds import default_seed_path, load_seed_tasks
    from pipeline.simulator.server import canonical_body
    from pipeline.teacher.client import Teacher, TeacherConfig

    seeds = load_seed_tasks(default_seed_path())

    def body_hash(index: int, run_seed: int = 0) -> str:
        teacher = Teacher.__new__(Teacher)  # only its pure request building is used
        teacher.config = TeacherConfig(model="simulated-teacher")
        prompt = prompt_for_request(seeds, run_seed, index)
        body = teacher.request_body(prompt, stop_sequences(20), request_seed(run_seed, index))
        return canonical_body(json.dumps(Teacher.wire_params(body)).encode())[1]

    return body_hash


@pytest.fixture(scope="session")
def build_tiny_llama():
    """Make a random 2-layer LLaMA (hidden 64) with a byte-level BPE tokenizer trained on `corpus`: no hub."""

    def build(path: Path, corpus: list[str]) -> Path:
        import torch
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

        torch.set_num_threads(1)
        bpe = Tokenizer(models.BPE(unk_token="<unk>"))
        bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        bpe.decoder = decoders.ByteLevel()
        special = ["<unk>", "<s>", "</s>", "<pad>"]
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=special, initial_alphabet=alphabet)
        bpe.train_from_iterator(corpus, trainer)
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
        )
        config = LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )  # fmt: skip
        torch.manual_seed(0)
        LlamaForCausalLM(config).save_pretrained(path)
        tokenizer.save_pretrained(path)
        return path

    return build
