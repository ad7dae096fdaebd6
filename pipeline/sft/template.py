"""The Alpaca prompt as the saved model's own chat template and generation defaults, so that anything that prompts a
model through its tokenizer (`apply_chat_template`, transformers pipelines, vLLM's chat endpoint) prompts it in the
format it was trained on.

The template renders, for a user message (its `content` the instruction, an optional `input` key the input), exactly
`pipeline.sft.data.format_prompt`; an assistant message is the response followed by EOS, as SFTTrainer trained it.
Alpaca is single-turn: each user message opens a fresh Alpaca prompt, and system messages are not part of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.sft.data import PROMPT_INPUT, PROMPT_NO_INPUT

# Sampling defaults written to generation_config.json (Stanford Alpaca's demo sampled at temperature 0.7, top_p 0.9)
TEMPERATURE = 0.7
TOP_P = 0.9
MAX_NEW_TOKENS = 512


def _literal(text: str) -> str:
    """`text` as a Jinja string literal (JSON's escapes are Jinja's for ASCII text)."""
    return json.dumps(text)


def _prompt_template(prompt: str) -> str:
    """One of Alpaca's prompt strings with its {instruction} and {input} slots as Jinja expressions."""
    parts = []
    for piece in prompt.replace("{input}", "\0input\0").replace("{instruction}", "\0content\0").split("\0"):
        if piece in ("content", "input"):
            parts.append(f"{{{{ message[{_literal(piece)}] }}}}")
        elif piece:
            parts.append(f"{{{{ {_literal(piece)} }}}}")
    return "".join(parts)


ALPACA_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}"
    "{%- if not loop.first and messages[loop.index0 - 1]['role'] == 'assistant' -%}{{ '\\n\\n' }}{%- endif -%}"
    "{%- if message['input'] is defined and message['input'] -%}"
    + _prompt_template(PROMPT_INPUT)
    + "{%- else -%}"
    + _prompt_template(PROMPT_NO_INPUT)
    + "{%- endif -%}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ message['content'] }}{{ eos_token }}"
    "{%- endif -%}"
    "{%- endfor -%}"
)


def use_alpaca_template(tokenizer: Any) -> None:
    """Give `tokenizer` the Alpaca chat template (saved with it as chat_template.jinja)."""
    tokenizer.chat_template = ALPACA_CHAT_TEMPLATE


def write_generation_config(folder: Path, tokenizer: Any) -> None:
    """generation_config.json for a trained model folder: its EOS as the stop token, and sampling defaults."""
    from transformers import GenerationConfig

    GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        do_sample=True,
        temperature=TEMPERATURE,
        top_p=TOP_P,
        max_new_tokens=MAX_NEW_TOKENS,
    ).save_pretrained(folder)
