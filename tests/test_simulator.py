"""The simulated teacher, over real HTTP with the official openai client, and its pure answer functions."""

import asyncio
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from itertools import pairwise

import httpx
import openai
import pytest
from rapidfuzz.distance import LCSseq
from rouge_score import rouge_scorer

from pipeline.core.records import Example, SeedTask
from pipeline.generation.prompts import build_prompt
from pipeline.simulator import grammar
from pipeline.simulator.server import (
    DEFAULT_MODEL,
    SimulatorConfig,
    SimulatorServer,
    answer_rng,
    apply_limits,
    estimate_tokens,
    generate_answer,
)

SEEDS = tuple(
    SeedTask(f"seed_task_{n}", f"task_{n}", instruction, (Example(instruction, task_input, output),), False)
    for n, (instruction, task_input, output) in enumerate(
        [
            ("Give three tips for staying healthy.", "", "1. Eat vegetables.\n2. Sleep enough.\n3. Move every day."),
            ("Rewrite the sentence in the passive voice.", "The cat chased the mouse.", "The mouse was chased."),
            ("What is the capital of France?", "", "The capital of France is Paris."),
            ("Classify the review as positive or negative.", "The soup was cold and bland.", "Negative"),
            ("Suggest a name for a bakery that sells only bread.", "", "Crumb & Crust"),
        ]
    )
)
PROMPT = build_prompt(SEEDS[:3], num_tasks=20)  # asks for tasks 4..20
CLEAN = SimulatorConfig(near_duplicate_share=0, malformed_share=0, truncated_share=0, drift_share=0)
HEADER = re.compile(r"^(\d+)\. Instruction:", re.MULTILINE)
BLOCK = re.compile(r"^(\d+)\. Instruction: (.+)\n\1\. Input:\n(.+)\n\1\. Output:\n(.+)$", re.DOTALL)
BLOCKLIST = re.compile(
    r"\b(images?|graphs?|pictures?|files?|maps?|draw|plot|go to|video|audio|music|flowchart|diagram)\b", re.I
)


def client_for(server: SimulatorServer, **options: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, **options)


def complete(client: openai.OpenAI, prompt: str = PROMPT.text, **params: object) -> openai.types.Completion:
    return client.completions.create(model=DEFAULT_MODEL, prompt=prompt, **params)


@pytest.fixture(scope="module")
def server() -> SimulatorServer:
    """The default configuration: defects, near-duplicates and drift at their default shares."""
    with SimulatorServer(SimulatorConfig(seed=11)) as running:
        yield running


@pytest.fixture(scope="module")
def clean_server() -> SimulatorServer:
    with SimulatorServer(CLEAN) as running:
        yield running


def test_models_list(server: SimulatorServer) -> None:
    models = client_for(server).models.list()
    assert [(model.id, model.object, model.owned_by) for model in models.data] == [
        (DEFAULT_MODEL, "model", "alpaca-pipeline-simulator")
    ]
    assert isinstance(models.data[0].created, int)


def test_completion_continues_the_list(clean_server: SimulatorServer) -> None:
    response = complete(client_for(clean_server), max_tokens=4000, seed=1)
    choice = response.choices[0]
    assert (response.object, response.model, choice.index, choice.finish_reason) == (
        "text_completion", DEFAULT_MODEL, 0, "stop"
    )  # fmt: skip
    assert response.id.startswith("cmpl-") and choice.logprobs is None
    assert choice.text.startswith(" ") and not choice.text.startswith(" 4.")  # right after "4. Instruction:"
    text = f"{PROMPT.first_index}. Instruction:{choice.text}"
    assert [int(n) for n in HEADER.findall(text)] == list(range(4, 21))
    for block in text.split("\n###\n"):
        match = BLOCK.match(block)
        assert match, block
        instruction, _, output = match.group(2, 3, 4)
        assert len(instruction.split()) > 3 and not BLOCKLIST.search(instruction)
        assert instruction[0].isascii() and instruction[0].isalnum() and output.strip()
    usage = response.usage
    assert usage.completion_tokens == estimate_tokens(choice.text) == -(-len(choice.text) // 4)
    assert usage.prompt_tokens == estimate_tokens(PROMPT.text)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_chat_restates_the_header(clean_server: SimulatorServer) -> None:
    client = client_for(clean_server)
    chat = client.chat.completions.create(model=DEFAULT_MODEL, messages=list(PROMPT.messages), seed=1)
    choice = chat.choices[0]
    assert chat.object == "chat.completion" and chat.id.startswith("chatcmpl-")
    assert (choice.message.role, choice.finish_reason) == ("assistant", "stop")
    assert choice.message.content.startswith("4. Instruction: ")
    assert [int(n) for n in HEADER.findall(choice.message.content)] == list(range(4, 21))
    completion = complete(client, seed=1).choices[0].text
    assert choice.message.content == "4. Instruction:" + completion  # one answer, two framings


def test_answers_are_deterministic(server: SimulatorServer) -> None:
    client = client_for(server)
    first, again = complete(client, seed=5).choices[0].text, complete(client, seed=5).choices[0].text
    assert first == again
    assert complete(client, seed=6).choices[0].text != first
    assert complete(client).choices[0].text == complete(client).choices[0].text  # no seed: the server seed decides
    other_prompt = build_prompt(SEEDS[1:4], num_tasks=20).text
    assert complete(client, prompt=other_prompt, seed=5).choices[0].text != first
    with SimulatorServer(SimulatorConfig(seed=12)) as other_server:
        assert complete(client_for(other_server), seed=5).choices[0].text != first


def test_stop_and_max_tokens(clean_server: SimulatorServer) -> None:
    client = client_for(clean_server)
    full = complete(client, seed=2).choices[0].text
    stopped = complete(client, seed=2, stop=["###", "never appears"]).choices[0]
    assert (stopped.text, stopped.finish_reason) == (full[: full.index("###")], "stop")
    assert complete(client, seed=2, stop="5. Input:").choices[0].text == full[: full.index("5. Input:")]
    short = complete(client, seed=2, max_tokens=10)
    assert (short.choices[0].text, short.choices[0].finish_reason) == (full[:40], "length")
    assert short.usage.completion_tokens == 10


def test_apply_limits_is_pure() -> None:
    assert apply_limits("abc###def", "stop", None, ("###",)) == ("abc", "stop")
    assert apply_limits("abcdefghij", "stop", 2, ()) == ("abcdefgh", "length")
    assert apply_limits("abcdefghij", "stop", 2, ("c",)) == ("ab", "stop")  # the stop comes first
    assert apply_limits("abcdefghijkl", "length", 3, ("x",)) == ("abcdefghijkl", "length")
    assert apply_limits("abcdefghij", "length", None, ("f",)) == ("abcde", "stop")


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        ("rate_limit", openai.RateLimitError, 429),
        ("server_error", openai.InternalServerError, 500),
        ("unavailable", openai.InternalServerError, 503),
    ],
)
def test_injected_http_faults(server: SimulatorServer, fault: str, error: type, status: int) -> None:
    client = client_for(server)
    server.inject(fault, count=2, **({"retry_after": 2} if fault == "rate_limit" else {}))
    for _ in range(2):
        with pytest.raises(error) as raised:
            complete(client)
        assert raised.value.status_code == status
        assert raised.value.response.headers["x-request-id"].startswith("req_")
        assert set(raised.value.body) >= {"message", "type", "param", "code"}
    if fault == "rate_limit":
        assert raised.value.response.headers["retry-after"] == "2"
    assert complete(client).choices[0].text  # the queue is spent


def test_hang_drop_garbage_truncate(server: SimulatorServer) -> None:
    client = client_for(server)
    server.inject("hang", seconds=3)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        complete(client_for(server, timeout=0.5))
    assert time.monotonic() - started < 2
    server.inject("drop")
    with pytest.raises(openai.APIConnectionError) as raised:
        complete(client)
    assert type(raised.value) is openai.APIConnectionError  # a reset connection, not a timeout
    server.inject("garbage")
    garbage = complete(client).choices[0]
    assert garbage.finish_reason == "stop" and "Instruction:" not in garbage.text
    server.inject("truncate")
    chat = client.chat.completions.create(model=DEFAULT_MODEL, messages=list(PROMPT.messages))
    assert chat.choices[0].finish_reason == "length"
    statuses = [request.status for request in sorted(server.requests[-4:], key=lambda r: r.timestamp)]
    assert statuses == [499, 0, 200, 200]  # 499: the client gave up on the hang; 0: dropped
    assert server.stats()["dropped"] >= 1


def test_fault_rates_are_drawn_per_request() -> None:
    config = SimulatorConfig(fault_rates={"server_error": 0.5})
    with SimulatorServer(config) as running:
        client = client_for(running)
        outcomes = []
        for _ in range(40):
            try:
                outcomes.append(complete(client, max_tokens=5).choices[0].finish_reason)
            except openai.InternalServerError:
                outcomes.append("500")
        assert 8 <= outcomes.count("500") <= 32
        assert running.stats() == {"500": outcomes.count("500"), "200": 40 - outcomes.count("500")}


def test_wrong_key_is_refused() -> None:
    with SimulatorServer(SimulatorConfig(api_key="right")) as running:
        with pytest.raises(openai.AuthenticationError) as raised:
            client_for(running).models.list()
        assert raised.value.code == "invalid_api_key"
        right = openai.OpenAI(base_url=running.base_url, api_key="right", max_retries=0)
        assert complete(right, max_tokens=5).choices[0].text


def test_bad_requests(server: SimulatorServer) -> None:
    client = client_for(server)
    with pytest.raises(openai.NotFoundError) as raised:
        client.completions.create(model="gpt-nonexistent", prompt="hi")
    assert raised.value.code == "model_not_found" and raised.value.param == "model"
    with pytest.raises(openai.BadRequestError) as raised:
        client.completions.create(model=DEFAULT_MODEL, prompt=[PROMPT.text, PROMPT.text])
    assert raised.value.param == "prompt"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=DEFAULT_MODEL, messages=[{"role": "system", "content": "no user"}])
    with pytest.raises(openai.BadRequestError):
        complete(client, n=2)
    response = httpx.post(f"{server.base_url}/completions", content=b"{not json", timeout=5)
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"


def test_rpm_limit_is_enforced() -> None:
    with SimulatorServer(SimulatorConfig(rpm_limit=3, tpm_limit=100_000)) as running:
        client = client_for(running)
        requests_left, tokens_left = [], []
        for _ in range(3):
            raw = client.completions.with_raw_response.create(model=DEFAULT_MODEL, prompt="x", max_tokens=5)
            assert raw.headers["x-ratelimit-limit-requests"] == "3"
            assert raw.headers["x-ratelimit-limit-tokens"] == "100000"
            requests_left.append(raw.headers["x-ratelimit-remaining-requests"])
            tokens_left.append(int(raw.headers["x-ratelimit-remaining-tokens"]))
        assert requests_left == ["2", "1", "0"]
        assert tokens_left[0] == 100_000 > tokens_left[1] > tokens_left[2]  # 6 tokens spent a request
        with pytest.raises(openai.RateLimitError) as raised:
            complete(client, prompt="x", max_tokens=5)
        assert 55 <= int(raised.value.response.headers["retry-after"]) <= 60
        assert running.stats() == {"200": 3, "429": 1}


def test_concurrent_requests_overlap() -> None:
    async def twenty(base_url: str) -> list[str]:
        async with openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0) as client:
            calls = [client.completions.create(model=DEFAULT_MODEL, prompt=PROMPT.text, seed=n) for n in range(20)]
            return [response.choices[0].text for response in await asyncio.gather(*calls)]

    with SimulatorServer(SimulatorConfig(latency_s=0.5)) as running:
        started = time.monotonic()
        texts = asyncio.run(twenty(running.base_url))
        assert time.monotonic() - started < 5  # one at a time would take 10 s
        assert len(set(texts)) == 20


def test_requests_are_recorded(server: SimulatorServer) -> None:
    client = client_for(server)
    before = len(server.requests)
    complete(client, seed=99, max_tokens=5)
    complete(client, seed=99, max_tokens=5)
    first, second = server.requests[before:]
    assert (first.endpoint, first.model, first.status) == ("/v1/completions", DEFAULT_MODEL, 200)
    assert first.body_sha256 == second.body_sha256 and len(first.body_sha256) == 64
    assert first.timestamp <= second.timestamp


def has_missing_output(text: str) -> bool:
    return any("Input:" in block and "Output:" not in block for block in text.split("\n###\n"))


# What spots each defect in an answer (completion text with its first header put back).
MALFORMED_SIGNS: dict[str, Callable[[str], object]] = {
    "short_instruction": re.compile(r"Instruction: (?:\S+ ){0,2}\S+\n").search,
    "blocklisted_word": re.compile(r"Instruction: [^\n]*" + BLOCKLIST.pattern, re.I).search,
    "write_a_program": re.compile(r"Instruction: Write a program").search,
    "leading_punctuation": re.compile(r"Instruction: [-*\"(.:]").search,
    "non_ascii_start": re.compile(r"Instruction: [^\x00-\x7f]").search,
    "empty_output": re.compile(r"Output:\n\n###").search,
    "placeholder_output": re.compile(r"Output:\n(?:N/A|<nooutput>)\n###").search,
    "leaked_next_task": re.compile(r"\n\d+\. Instruction: [^\n]*\n###").search,
    "url_input": re.compile(r"Input:\nhttps?://\S+\n\d+\. Output:").search,
    "attachment_input": re.compile(
        r"Input:\n(?:<image>|\[attached: [^\]]+\]|<attachment: [^>]+>|<img [^>]+>)\n"
    ).search,
    "input_equals_output": re.compile(r"\d+\. Input:\n([^#]+?)\n\d+\. Output:\n\1\n###").search,
    "missing_output": has_missing_output,
    "noinput_variant": re.compile(r"Input:\n(?:<no input>|No input|N/A|None|<No Input>|\(no input\))\n").search,
}
DRIFT_SIGNS: dict[str, Callable[[str], object]] = {
    "missing_separator": re.compile(r"\d+\. Output:\n[^#]*?\n(\d+)\. Instruction: [^\n]*\n\1\. Input:").search,
    "extra_whitespace": re.compile(r"Input: \n").search,
}


def test_every_defect_appears_over_300_answers(server: SimulatorServer) -> None:
    client = client_for(server)
    texts, finishes = [], []
    for n in range(300):
        choice = complete(client, seed=1000 + n).choices[0]
        texts.append(f"{PROMPT.first_index}. Instruction:{choice.text}")
        finishes.append(choice.finish_reason)
    for kind, sign in {**MALFORMED_SIGNS, **DRIFT_SIGNS}.items():
        assert any(sign(text) for text in texts), kind
    assert set(MALFORMED_SIGNS) == set(grammar.MALFORMED_KINDS)
    skipped = [text for text in texts if {int(b) - int(a) for a, b in pairwise(HEADER.findall(text))} & {2}]
    assert skipped, "skipped_number"
    assert 5 <= finishes.count("length") <= 30  # truncated_share 0.05 of 300


def test_near_duplicates_exceed_the_rouge_threshold() -> None:
    config = SimulatorConfig(near_duplicate_share=1.0, malformed_share=0, truncated_share=0, drift_share=0)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    for seed in range(5):
        text, _ = generate_answer(PROMPT.text, answer_rng(PROMPT.text, seed, 0), config, chat=True)
        instructions = [match.group(2) for match in map(BLOCK.match, text.split("\n###\n"))]
        shown = [seed_task.instruction for seed_task in SEEDS[:3]]
        for n, instruction in enumerate(instructions):
            best = max(scorer.score(other, instruction)["rougeL"].fmeasure for other in shown + instructions[:n])
            assert best > 0.7, instruction


def test_prompt_is_read() -> None:
    facts = grammar.read_prompt(PROMPT.text)
    shown = tuple(seed_task.example for seed_task in SEEDS[:3])
    assert facts == grammar.PromptFacts(first_index=4, num_tasks=20, demonstrations=shown, ends_with_header=True)
    text, finish_reason = generate_answer("Say hi.", answer_rng("Say hi.", None, 0), CLEAN, chat=False)
    assert finish_reason == "stop" and text.startswith("1. Instruction: ")  # no header to continue: restate it
    assert [int(n) for n in HEADER.findall(text)] == list(range(1, 21))


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="malformed_share must be between 0 and 1"):
        SimulatorConfig(malformed_share=1.5)
    with pytest.raises(ValueError, match="unknown fault"):
        SimulatorConfig(fault_rates={"meteor": 0.1})
    with pytest.raises(ValueError, match="choose from"):
        SimulatorServer().inject("meteor")
    with pytest.raises(ValueError, match="takes"):
        SimulatorServer().inject("hang", retry_after=3)


def test_grammar_keeps_most_instructions_apart() -> None:
    """Greedy ROUGE-L dedup (drop if F > 0.7 against any kept) of 1,000 distinct well-formed instructions."""
    rng = answer_rng("keep-rate", None, 0)
    instructions = list(dict.fromkeys(grammar.draw_task(rng).instruction for _ in range(1100)))[:1000]
    vocabulary: dict[str, str] = {}
    kept: list[str] = []
    for instruction in instructions:
        words = grammar.rouge_tokens(instruction)
        tokens = "".join(vocabulary.setdefault(word, chr(0x100 + len(vocabulary))) for word in words)
        if all(2 * LCSseq.similarity(tokens, other) <= 0.7 * (len(tokens) + len(other)) for other in kept):
            kept.append(tokens)
    assert len(kept) >= 850  # measured 95% at 1,000 and 88% at 3,000


def test_well_formed_tasks_pass_the_quality_rules() -> None:
    """What the downstream filters check (Alpaca's rules), on 2,000 tasks of the grammar."""
    rng = answer_rng("well-formed", None, 0)
    tasks = [grammar.draw_task(rng) for _ in range(2000)]
    for task in tasks:
        assert 3 < len(task.instruction.split()) <= 150 and not BLOCKLIST.search(task.instruction), task
        assert task.instruction[0].isascii() and task.instruction[0].isalnum(), task
        assert not task.instruction.startswith("Write a program") and "{" not in task.instruction, task
        assert 5 <= len(task.output.split()) <= 80 and task.input != task.output, task
        assert "Instruction:" not in task.input + task.output and not task.input.startswith("http"), task
    assert 0.35 <= sum(bool(task.input) for task in tasks) / len(tasks) <= 0.45


def test_serve_runs_until_interrupted() -> None:
    with socket.socket() as probe:  # a port that is free right now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = f"from pipeline.simulator.server import SimulatorConfig, serve; serve(SimulatorConfig(), port={port})"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/v1" in line
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
        assert complete(client, max_tokens=5).choices[0].text
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        process.stdout.close()


def test_server_restarts_with_fresh_windows() -> None:
    running = SimulatorServer(SimulatorConfig(rpm_limit=1))
    for _ in range(2):
        with running:
            assert complete(client_for(running), max_tokens=5).choices[0].text
    assert running.stats() == {"200": 2}


def test_answers_do_not_depend_on_the_process_hash_seed() -> None:
    """Python salts str hashes per process; an answer built from set order would change between runs."""
    import os
    import subprocess
    import sys

    code = (
        "import hashlib\n"
        "from pipeline.generation.prompts import prompt_for_request\n"
        "from pipeline.generation.seeds import default_seed_path, load_seed_tasks\n"
        "from pipeline.simulator.server import DEFAULT_CONFIG, answer_rng, generate_answer\n"
        "seeds = load_seed_tasks(default_seed_path())\n"
        "digest = hashlib.sha256()\n"
        "for i in range(400):\n"
        "    text = prompt_for_request(seeds, 0, i).text\n"
        "    digest.update(generate_answer(text, answer_rng(text, i, 0), DEFAULT_CONFIG, True)[0].encode())\n"
        "print(digest.hexdigest())\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout  # fmt: skip
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1
