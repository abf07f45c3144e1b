"""The engine with the real default model, in this process, and tiny GPT-2 / GPT-Neo models built here."""

import pytest
import torch
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, GPTNeoConfig, GPTNeoForCausalLM

from model_worker import loading
from model_worker.engine import Engine
from model_worker.forwards import PackedForward, RowwiseForward
from model_worker.llama import LlamaForward
from model_worker.sequence import Completion
from tasks.contract import GenerationRequest, Message
from tasks.errors import PromptTooLong, UnsupportedRequest
from tasks.settings import Settings

TOPICS = ["cats", "the sea", "Paris", "winter"]


def _chat(text: str, **params) -> GenerationRequest:
    return GenerationRequest(messages=(Message("user", text),), **params)


def _engine(**env: str) -> Engine:
    return Engine.from_settings(Settings.from_env({"MAX_BATCH_SIZE": "8", **env}))


@pytest.fixture(scope="module")
def float32() -> Engine:
    return _engine(MODEL_DTYPE="float32")


def _run(engine: Engine, seq, steps: int | None = None) -> list:
    """Step until `seq` finishes (or `steps` steps); returns each step's finished list."""
    finished = []
    for _ in range(steps or 10_000):
        step = engine.step()
        finished.append(step.finished)
        if any(s is seq for s, _ in step.finished):
            break
    return finished


def test_a_batch_gives_each_request_what_it_gets_alone(engine):
    requests = [_chat(f"Write one sentence about {topic}.", max_tokens=16) for topic in TOPICS]
    together = engine.generate(requests)
    alone = [engine.generate([request])[0] for request in requests]
    assert together == alone
    assert len({c.text for c in together}) == len(TOPICS)
    assert all(isinstance(c, Completion) and c.text.strip() for c in together)


def test_the_lean_llama_forward_answers_as_transformers_generate_does(float32):
    assert isinstance(float32.forward, LlamaForward)
    settings = Settings.from_env({})
    model, tokenizer = loading.load(settings.model_name, settings.model_cache_dir, torch.device("cpu"))
    requests = [_chat(p, max_tokens=24) for p in ("Write one sentence about the sea.", "What is 2 + 2?")]
    for request, completion in zip(requests, float32.generate(requests), strict=True):
        ids = torch.tensor([float32.prepare(request).prompt])
        output = model.generate(ids, max_new_tokens=24, do_sample=False)[0, ids.shape[1] :].tolist()
        assert completion.completion_tokens == len(output)
        assert completion.text == tokenizer.decode(output, skip_special_tokens=True)


def test_chat_uses_the_template_and_answers(engine):
    (completion,) = engine.generate([_chat("What is the capital of France?", max_tokens=24)])
    assert "Paris" in completion.text
    assert completion.finish_reason == "stop"
    assert completion.prompt_tokens > 10  # the template's system preamble is part of the prompt


def test_max_tokens_and_stop_are_honoured_per_row(engine):
    count = "Count: 1, 2, 3,"
    short, stopped, longer = engine.generate(
        [
            GenerationRequest(prompt=count, max_tokens=3),
            GenerationRequest(prompt=count, max_tokens=30, stop=("7",)),
            GenerationRequest(prompt=count, max_tokens=8),
        ]
    )
    assert (short.finish_reason, short.completion_tokens) == ("length", 3)
    assert (longer.finish_reason, longer.completion_tokens) == ("length", 8)
    assert longer.text.startswith(short.text)
    assert stopped.finish_reason == "stop" and "7" not in stopped.text
    assert stopped.text.rstrip(", ").endswith("6")


def test_a_prompt_over_the_context_fails_alone(engine):
    good = GenerationRequest(prompt="Count: 1, 2, 3,", max_tokens=4)
    too_long = GenerationRequest(prompt="hello " * 9000, max_tokens=4)
    outcome_good, outcome_bad = engine.generate([good, too_long])
    assert isinstance(outcome_good, Completion)
    assert isinstance(outcome_bad, PromptTooLong)
    assert "exceeds the model's context of 8192 tokens" in outcome_bad.message


def test_seeded_sampling_is_reproducible_differs_by_seed_and_ignores_batch_mates(engine):
    def seeded(seed: int) -> GenerationRequest:
        return _chat("Name a colour.", max_tokens=12, temperature=1.5, top_p=0.9, seed=seed)

    alone = engine.generate([seeded(7)])[0].text
    assert engine.generate([seeded(7)])[0].text == alone
    mates = [_chat(f"Write about {t}.", max_tokens=20, temperature=0.8) for t in TOPICS]
    assert engine.generate([*mates[:2], seeded(7), *mates[2:]])[2].text == alone
    assert len({engine.generate([seeded(s)])[0].text for s in range(4)}) > 1


def test_a_newcomer_joins_a_running_batch_at_the_next_step(engine):
    expected = engine.generate([_chat("Say hi.", max_tokens=3)])[0]
    first = engine.prepare(_chat("Write a long story about a lighthouse.", max_tokens=40))
    engine.add(first)
    for _ in range(5):
        engine.step()
    assert len(first.generated) == 5
    late = engine.prepare(_chat("Say hi.", max_tokens=3))
    engine.add(late)
    engine.step()  # the newcomer's prefill and the running row's next token, in one pass
    assert len(late.generated) == 1 and len(first.generated) == 6
    finished = _run(engine, late)
    outcome = next(o for s, o in finished[-1] if s is late)
    assert outcome == expected
    assert first.slot is not None  # the long row goes on; the short one's row is free again
    assert engine.free == engine.max_rows - 1
    _run(engine, first)
    assert engine.free == engine.max_rows


def test_background_rows_alone_run_on_one_thread_and_give_the_same_answer(engine, monkeypatch):
    """A cache verification leaves the API the other cores; joined by anyone's request, the step
    takes every thread again, and says so. The answer does not depend on it."""
    monkeypatch.setattr(engine, "threads", 2)  # (whatever this test process set before)
    expected = engine.generate([_chat("Say hi.", max_tokens=3)])[0]
    verification = engine.prepare(_chat("Say hi.", max_tokens=3))
    verification.background = True
    engine.add(verification)
    assert engine.step().background  # (the scheduler rests after such a step)
    assert torch.get_num_threads() == 1
    asked = engine.prepare(_chat("Write a long story about a lighthouse.", max_tokens=4))
    engine.add(asked)
    assert not engine.step().background
    assert torch.get_num_threads() == 2
    outcome = next(o for s, o in _run(engine, verification)[-1] if s is verification)
    assert outcome == expected
    _run(engine, asked)


def test_a_long_prompt_is_prefilled_in_chunks_while_the_running_rows_keep_decoding():
    engine = _engine(MAX_STEP_TOKENS="16")  # one prefill chunk per step
    runner = engine.prepare(_chat("Write a long story about a dragon.", max_tokens=30))
    engine.add(runner)
    while not runner.generated:  # its own prompt first, a chunk or two per step
        engine.step()
    long_prompt = _chat("Summarise: " + "the quick brown fox jumps over the lazy dog. " * 20, max_tokens=8)
    newcomer = engine.prepare(long_prompt)
    engine.add(newcomer)
    decoded_before = len(runner.generated)
    steps = 0
    while not newcomer.generated:
        engine.step()
        steps += 1
    assert steps >= 3  # its prompt took a step per chunk ...
    assert len(runner.generated) - decoded_before == steps  # ... and the running row decoded in each
    outcome = next(o for s, o in _run(engine, newcomer)[-1] if s is newcomer)
    assert outcome == _engine().generate([long_prompt])[0]


def test_a_row_taken_out_resumes_exactly_where_it_stopped(engine):
    requests = [
        _chat("Write a short poem about the sea.", max_tokens=30),
        _chat("Name a colour and a fruit.", max_tokens=20, temperature=1.0, seed=11),
    ]
    expected = engine.generate(requests)
    seqs = [engine.prepare(r) for r in requests]
    for seq in seqs:
        engine.add(seq)
    for _ in range(9):
        engine.step()
    for seq in seqs:  # preempted: out of the batch, its tokens, random state and cache kept
        engine.remove(seq, keep=True)
    assert engine.free == engine.max_rows
    engine.add(engine.prepare(_chat("Say hi.", max_tokens=4)))  # someone else uses the rows meanwhile
    engine.step()
    outcomes = {}
    for seq in reversed(seqs):
        engine.add(seq)  # in another slot than before
    while not all(id(seq) in outcomes for seq in seqs):
        outcomes.update({id(s): o for s, o in engine.step().finished})
    assert [outcomes[id(seq)] for seq in seqs] == expected


def test_streamed_rows_arrive_step_by_step_and_add_up_to_the_answer(engine):
    requests = [
        _chat("Write a short poem about the sea.", max_tokens=40),
        GenerationRequest(prompt="Count: 1, 2, 3,", max_tokens=30, stop=("7",)),
        _chat("Name a colour.", max_tokens=12),  # not streamed
    ]
    pieces: list[tuple[int, int, str]] = []
    completions = engine.generate(requests, streamed={0, 1}, on_text=lambda i, o, t: pieces.append((i, o, t)))
    assert completions == engine.generate(requests)  # streaming changes nothing in the answers
    for index in (0, 1):
        mine = [(offset, text) for i, offset, text in pieces if i == index]
        assert len(mine) > 5  # it came a few tokens at a time, not whole at the end
        assert [offset for offset, _ in mine] == [sum(len(t) for _, t in mine[:k]) for k in range(len(mine))]
        assert "".join(text for _, text in mine) == completions[index].text
    assert "7" not in "".join(text for i, _, text in pieces if i == 1)  # the stop is never sent
    assert all(i != 2 for i, _, _ in pieces)


@pytest.fixture(scope="module")
def int8() -> Engine:
    return _engine(MODEL_DTYPE="int8")


def test_int8_rows_do_not_depend_on_their_batch_mates(int8):
    requests = [_chat(f"Write one sentence about {topic}.", max_tokens=24) for topic in TOPICS]
    assert int8.generate(requests) == [int8.generate([r])[0] for r in requests]


def test_a_prompt_from_the_prefix_cache_answers_exactly_as_computed_whole(int8):
    uncached = _engine(MODEL_DTYPE="int8", PREFIX_CACHE_TOKENS="0")
    requests = [_chat(f"Tell me about {topic}.", max_tokens=24) for topic in TOPICS]
    hits_before = int8.prefixes.hits
    assert [int8.generate([r])[0] for r in requests] == [uncached.generate([r])[0] for r in requests]
    assert int8.prefixes.hits - hits_before >= len(TOPICS) - 1  # the chat template's preamble, reused


def test_a_burst_that_shares_a_prefix_computes_it_once(int8):
    int8.prefixes = type(int8.prefixes)(int8.prefixes.max_tokens)  # an empty cache
    burst = [int8.prepare(_chat(f"Describe {topic} in one line.", max_tokens=4)) for topic in TOPICS]
    for seq in burst:
        int8.add(seq)
    fed = int8.step().tokens  # the first newcomer alone: the others would compute the same preamble
    assert fed == len(burst[0].prompt)
    while int8.rows:
        int8.step()
    assert int8.prefixes.hits == len(TOPICS) - 1


@pytest.fixture(scope="module")
def tokenizer(engine):
    """The default model's tokenizer without a pad token or chat template (as GPT-2's)."""
    tokenizer = AutoTokenizer.from_pretrained(engine.tokenizer.name_or_path)
    tokenizer.pad_token = None
    tokenizer.chat_template = None
    return tokenizer


def _tiny(tmp_path, tokenizer, model_class, config) -> str:
    torch.manual_seed(0)
    model_class(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    return str(tmp_path)


def _tiny_gpt2(tmp_path, tokenizer) -> str:
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=2, n_head=2)
    return _tiny(tmp_path, tokenizer, GPT2LMHeadModel, config)


def _tiny_gpt_neo(tmp_path, tokenizer) -> str:
    config = GPTNeoConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=128,
        hidden_size=32,
        num_layers=2,
        num_heads=2,
        attention_types=[[["global", "local"], 1]],
    )
    return _tiny(tmp_path, tokenizer, GPTNeoForCausalLM, config)


@pytest.mark.parametrize(("build", "forward"), [(_tiny_gpt2, PackedForward), (_tiny_gpt_neo, RowwiseForward)])
def test_other_architectures_run_in_the_same_engine(tmp_path, tokenizer, build, forward):
    path = build(tmp_path, tokenizer)
    model, loaded_tokenizer = loading.load(path, cache_dir="/nonexistent", device=torch.device("cpu"))
    reference = [
        model.generate(torch.tensor([loaded_tokenizer(p)["input_ids"]]), max_new_tokens=n, do_sample=False)
        for p, n in (("Hello there", 5), ("A much longer prompt than the first one", 7))
    ]
    engine = Engine(model, loaded_tokenizer, path, max_rows=4)
    assert isinstance(engine.forward, forward)
    assert engine.context_length == 128
    results = engine.generate(
        [
            GenerationRequest(prompt="Hello there", max_tokens=5),
            GenerationRequest(prompt="A much longer prompt than the first one", max_tokens=7),
            GenerationRequest(prompt="x " * 200, max_tokens=5),
            GenerationRequest(messages=(Message("user", "hi"),), max_tokens=5),
        ]
    )
    assert [type(r) for r in results] == [Completion, Completion, PromptTooLong, UnsupportedRequest]
    for result, output in zip(results[:2], reference, strict=True):  # greedy: as transformers' generate
        assert result.completion_tokens <= output.shape[1]
        assert engine.texts.text(output[0, -result.completion_tokens :].tolist()) == result.text
