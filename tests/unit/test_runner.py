"""The model runner with the real default model, in this process, and a tiny GPT-2 built here."""

import pytest
import torch
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

from model_worker.runner import PREEMPT_MIN_STEPS, Completion, ModelRunner, Preempted
from tasks.contract import GenerationRequest, Message
from tasks.errors import PromptTooLong

TOPICS = ["cats", "the sea", "Paris", "winter"]


def _chat(text: str, **params) -> GenerationRequest:
    return GenerationRequest(messages=(Message("user", text),), **params)


def test_a_batch_gives_each_request_what_it_gets_alone(runner):
    requests = [_chat(f"Write one sentence about {topic}.", max_tokens=16) for topic in TOPICS]
    together = runner.generate(requests)
    alone = [runner.generate([request])[0] for request in requests]
    assert together == alone
    assert len({c.text for c in together}) == len(TOPICS)
    assert all(isinstance(c, Completion) and c.text.strip() for c in together)


def test_chat_uses_the_template_and_answers(runner):
    (completion,) = runner.generate([_chat("What is the capital of France?", max_tokens=24)])
    assert "Paris" in completion.text
    assert completion.finish_reason == "stop"
    assert completion.prompt_tokens > 10  # the template's system preamble is part of the prompt


def test_max_tokens_and_stop_are_honoured_per_row_in_one_call(runner):
    count = "Count: 1, 2, 3,"
    short, stopped, longer = runner.generate(
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


def test_a_prompt_over_the_context_fails_alone(runner):
    good = GenerationRequest(prompt="Count: 1, 2, 3,", max_tokens=4)
    too_long = GenerationRequest(prompt="hello " * 9000, max_tokens=4)
    outcome_good, outcome_bad = runner.generate([good, too_long])
    assert isinstance(outcome_good, Completion)
    assert isinstance(outcome_bad, PromptTooLong)
    assert "exceeds the model's context of 8192 tokens" in outcome_bad.message


def test_seeded_sampling_is_reproducible_and_differs_by_seed(runner):
    def sample(seed):
        return runner.generate([_chat("Name a colour.", max_tokens=12, temperature=1.5, top_p=1.0, seed=seed)])[0].text

    assert sample(7) == sample(7)
    assert len({sample(s) for s in range(4)}) > 1


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory, runner):
    """A 2-layer GPT-2 built from a config, with a tokenizer that has no pad token (as GPT-2's)."""
    path = tmp_path_factory.mktemp("tiny-gpt2")
    tokenizer = AutoTokenizer.from_pretrained(runner.tokenizer.name_or_path)
    tokenizer.pad_token = None
    tokenizer.chat_template = None
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=128,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def test_a_gpt2_architecture_model_runs_through_the_same_runner(tiny_gpt2):
    from model_worker import loading

    model, tokenizer = loading.load(tiny_gpt2, cache_dir="/nonexistent", device=torch.device("cpu"))
    gpt2 = ModelRunner(model, tokenizer, tiny_gpt2)
    assert type(model).__name__ == "GPT2LMHeadModel"
    assert gpt2.context_length == 128
    assert tokenizer.pad_token == tokenizer.eos_token  # the fallback for models without one
    results = gpt2.generate(
        [
            GenerationRequest(prompt="Hello there", max_tokens=5),
            GenerationRequest(prompt="A much longer prompt than the first one", max_tokens=7),
            GenerationRequest(prompt="x " * 200, max_tokens=5),
            GenerationRequest(messages=(Message("user", "hi"),), max_tokens=5),
        ]
    )
    assert [type(r).__name__ for r in results] == ["Completion", "Completion", "PromptTooLong", "UnsupportedRequest"]
    assert results[0].completion_tokens <= 5 and results[1].completion_tokens <= 7


def test_streamed_rows_arrive_step_by_step_and_add_up_to_the_answer(runner):
    requests = [
        _chat("Write a short poem about the sea.", max_tokens=40),
        GenerationRequest(prompt="Count: 1, 2, 3,", max_tokens=30, stop=("7",)),
        _chat("Name a colour.", max_tokens=12),  # not streamed
    ]
    steps: list[list] = []
    completions = runner.generate(requests, streamed={0, 1}, on_text=steps.append)
    assert completions == runner.generate(requests)  # streaming changes nothing in the answers
    for index in (0, 1):
        pieces = [(offset, text) for step in steps for i, offset, text in step if i == index]
        assert len(pieces) > 5  # it came a few tokens at a time, not whole at the end
        assert [offset for offset, _ in pieces] == [sum(len(t) for _, t in pieces[:k]) for k in range(len(pieces))]
        assert "".join(text for _, text in pieces) == completions[index].text
    assert "7" not in "".join(text for step in steps for i, _, text in step if i == 1)  # the stop is never sent
    assert all(i != 2 for step in steps for i, _, _ in step)


def test_a_failing_stream_leaves_the_answers_intact(runner):
    requests = [_chat("Name a fruit.", max_tokens=8), _chat("Name a city.", max_tokens=8)]

    def broken(_deltas):
        raise ConnectionError("redis went away")

    assert runner.generate(requests, streamed={0, 1}, on_text=broken) == runner.generate(requests)


def test_a_preempted_batch_resumes_where_it_stopped(runner):
    requests = [
        _chat("Write a short poem about the sea.", max_tokens=30),
        GenerationRequest(prompt="Count: 1, 2, 3,", max_tokens=24, stop=("9",)),
        _chat("Name a colour.", max_tokens=3),
    ]
    first = runner.generate(requests, preempt=lambda: True)  # as soon as it may
    assert isinstance(first[2], Completion)  # finished before the preemption
    assert all(isinstance(p, Preempted) and len(p.token_ids) == PREEMPT_MIN_STEPS for p in first[:2])
    resumed = runner.generate(requests[:2], resume={0: first[0].token_ids, 1: first[1].token_ids})
    assert [*resumed, first[2]] == runner.generate(requests)  # the same answers, token counts included


def test_seeded_samples_are_never_preempted(runner):
    seeded = GenerationRequest(prompt="Once upon a time", max_tokens=8, temperature=0.9, seed=5)
    (completion,) = runner.generate([seeded], preempt=lambda: True)
    assert completion == runner.generate([seeded])[0]


def test_a_short_request_is_handed_over_when_its_row_finishes(runner):
    requests = [_chat("Write a long story about a lighthouse.", max_tokens=40), _chat("Say hi.", max_tokens=3)]
    handed: list[tuple[int, Completion, int]] = []
    steps: list[int] = []
    completions = runner.generate(
        requests,
        streamed={0},
        on_text=lambda deltas: steps.append(len(steps)),
        on_done=lambda i, c: handed.append((i, c, len(steps))),
    )
    assert [i for i, _, _ in handed] == [1, 0]
    assert {i: c for i, c, _ in handed} == dict(enumerate(completions))
    assert handed[0][2] <= 3 < handed[1][2]  # the short one went after its 3 steps, not after 40
