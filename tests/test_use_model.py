"""Using a trained model: the Alpaca prompt as its chat template and generation defaults, `chat` on a full model
and on an adapter, and `export --format ollama`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("trl")

from flows.cli import main  # noqa: E402
from pipeline.core.errors import InputDataError  # noqa: E402
from pipeline.sft.data import PROMPT_INPUT, PROMPT_NO_INPUT, format_prompt  # noqa: E402
from pipeline.sft.finetune import TrainConfig, train, train_version  # noqa: E402
from pipeline.sft.use import find_model  # noqa: E402

RECORDS = [
    {"instruction": f"Name color number {i}.", "input": "" if i % 2 else f"palette {i}", "output": f"Color {i}."}
    for i in range(24)
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "alpaca_data.json"
    path.write_text(json.dumps(RECORDS), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory, build_tiny_llama) -> Path:
    corpus = [PROMPT_INPUT, PROMPT_NO_INPUT, *(" ".join(record.values()) for record in RECORDS)]
    return build_tiny_llama(tmp_path_factory.mktemp("tiny"), corpus)


def config(base: Path, **changes: object) -> TrainConfig:
    settings = dict(base_model=str(base), max_steps=2, batch_size=4, grad_accum=1, learning_rate=1e-3,
                    eval_samples=0, validation_fraction=0.2)  # fmt: skip
    return TrainConfig(**{**settings, **changes})


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path, dataset: Path) -> Path:
    return train(
        dataset, tmp_path_factory.mktemp("lora") / "model", config(tiny_base, method="lora", merge=True)
    ).output_dir


def test_the_saved_model_prompts_itself_the_alpaca_way(tiny_base: Path, dataset: Path, adapter: Path) -> None:
    from transformers import AutoTokenizer, GenerationConfig

    for folder in (adapter, adapter / "merged"):
        tokenizer = AutoTokenizer.from_pretrained(folder)
        for record in RECORDS[:2]:  # one without input, one with
            user = {"role": "user", "content": record["instruction"], "input": record["input"]}
            prompt = format_prompt(record["instruction"], record["input"])
            assert tokenizer.apply_chat_template([user], tokenize=False, add_generation_prompt=True) == prompt
            turn = [user, {"role": "assistant", "content": record["output"]}]
            assert tokenizer.apply_chat_template(turn, tokenize=False) == prompt + record["output"] + "</s>"
        plain = [{"role": "user", "content": "Say hi."}]  # no input key: the no-input prompt, as vLLM's chat sends
        assert tokenizer.apply_chat_template(plain, tokenize=False) == format_prompt("Say hi.", "")
        generation = GenerationConfig.from_pretrained(folder)
        assert generation.eos_token_id == tokenizer.eos_token_id and generation.do_sample
        assert (generation.temperature, generation.top_p, generation.max_new_tokens) == (0.7, 0.9, 512)


def test_chat_answers_from_a_full_model_an_adapter_and_a_models_folder(
    tiny_base: Path, dataset: Path, adapter: Path, tmp_path: Path
) -> None:
    full = train(dataset, tmp_path / "full", config(tiny_base, method="full")).output_dir
    (adapter / "merged").rename(adapter.parent / "merged-aside")  # the adapter alone, loaded on its base
    try:
        assert find_model(adapter) == adapter
        versions = tmp_path / "models"
        latest = train_version(dataset, versions, config(tiny_base, method="full", seed=7)).output_dir
        assert find_model(versions) == latest
        for folder in (full, adapter, versions):
            args = ["chat", str(folder), "--prompt", "Name color number 3.", "--temperature", "0",
                    "--max-new-tokens", "5"]  # fmt: skip
            result = CliRunner().invoke(main, args)
            assert result.exit_code == 0, result.output
            assert result.output.endswith("\n")
        typed = "Name color number 3.\n\nName color number 5.\npalette 5\n\n"  # instruction, input; twice; then none
        interactive = CliRunner().invoke(main, ["chat", str(full), "--max-new-tokens", "3"], input=typed)
        assert interactive.exit_code == 0, interactive.output
        assert interactive.output.count("Instruction: ") == 3  # two answered, then the empty one ends it
    finally:
        (adapter.parent / "merged-aside").rename(adapter / "merged")
    with pytest.raises(InputDataError, match="not a model folder"):
        find_model(tmp_path)


def test_export_ollama_writes_a_modelfile_of_the_merged_model(adapter: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["export", str(adapter), "--format", "ollama", "-o", str(tmp_path / "ollama")])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "ollama" / "Modelfile").read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"FROM {adapter / 'merged'}"
    template = "\n".join(lines).split('TEMPLATE """', 1)[1].split('"""', 1)[0]
    head, tail = PROMPT_NO_INPUT.split("{instruction}")
    assert template == f"{head}{{{{ .Prompt }}}}{tail}{{{{ .Response }}}}"
    assert 'PARAMETER stop "### Instruction:"' in lines and 'PARAMETER stop "</s>"' in lines
    # An adapter without a merged copy is merged into the export folder first.
    (adapter / "merged").rename(adapter.parent / "merged-aside")
    try:
        CliRunner().invoke(main, ["export", str(adapter), "-o", str(tmp_path / "ollama2")], catch_exceptions=False)
        first = (tmp_path / "ollama2" / "Modelfile").read_text(encoding="utf-8").splitlines()[0]
        assert first == f"FROM {tmp_path / 'ollama2' / 'merged'}"
        assert (tmp_path / "ollama2" / "merged" / "model.safetensors").is_file()
    finally:
        (adapter.parent / "merged-aside").rename(adapter / "merged")


def test_evaluate_writes_a_win_rate_against_the_base_model_and_against_a_file(adapter: Path, tmp_path: Path) -> None:
    from pipeline.sft.evaluate import load_eval_set

    args = ["evaluate", str(adapter), "-o", str(tmp_path / "eval"), "--max-examples", "8", "--max-new-tokens", "6",
            "--no-cache", "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(main, args, env={"OPENAI_API_KEY": None, "OPENAI_BASE_URL": None})
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert 0 <= report["win_rate"] <= 100 and report["examples"] == 8
    assert report["ci95"][0] <= report["win_rate"] <= report["ci95"][1]
    assert report["wins"] + report["ties"] + report["losses"] == 8 and report["baseline"].startswith("base model")
    judgements = [json.loads(line) for line in (tmp_path / "eval" / "judgements.jsonl").read_text().splitlines()]
    assert len(judgements) == 16 and {j["model_is"] for j in judgements} == {"A", "B"}  # both orders
    assert report["orders_agree"] == 1.0  # the offline judge has no position bias
    assert "Win rate" in (tmp_path / "eval" / "report.md").read_text()

    # A baseline given as answers (AlpacaEval's outputs format): an empty answer always loses to a real one.
    items = load_eval_set()[:8]
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps([{"instruction": item["instruction"], "output": ""} for item in items]))
    result = CliRunner().invoke(main, [*args[:3], str(tmp_path / "eval2"), *args[4:], "--baseline", str(empty)],
                                env={"OPENAI_API_KEY": None, "OPENAI_BASE_URL": None})  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "eval2" / "report.json").read_text())
    answered = sum(1 for line in (tmp_path / "eval2" / "answers.jsonl").read_text().splitlines()
                   if json.loads(line)["answer"])  # fmt: skip
    assert report["wins"] == answered and report["losses"] == 0


def test_eval_sets_of_other_projects_are_read(tmp_path: Path) -> None:
    from pipeline.sft.evaluate import load_eval_set

    assert len(load_eval_set()) >= 100
    user_oriented = tmp_path / "user_oriented_instructions.jsonl"
    record = {"id": "user_oriented_task_0", "motivation_app": "Grammarly", "instruction": "Fix the grammar.",
              "instances": [{"input": "He go home.", "output": "He goes home."}]}  # fmt: skip
    user_oriented.write_text(json.dumps(record) + "\n")
    assert load_eval_set(user_oriented) == [
        {"id": "user_oriented_task_0", "instruction": "Fix the grammar.", "input": "He go home."}
    ]
    alpaca_eval = tmp_path / "alpaca_eval.json"
    alpaca_eval.write_text(json.dumps([{"instruction": "Name a color.", "output": "Blue.", "generator": "gpt4",
                                        "dataset": "helpful_base"}]))  # fmt: skip
    assert load_eval_set(alpaca_eval) == [{"id": "1", "instruction": "Name a color.", "input": ""}]
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"instruction": "ok"}\n{"prompt": "no instruction"}\n')
    with pytest.raises(InputDataError, match=r"broken.jsonl:2: expected an object with an 'instruction' string"):
        load_eval_set(broken)
