"""The model runner: one batched generate() per group of compatible requests.

Contract (after LitServe's setup/predict_batch): `generate(requests)` returns exactly one
Completion or InferenceError per request, in order. One bad request fails alone: it is refused
before generation (too long, no chat template), and a group that crashes is retried request by
request so only the culprit fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import (
    GenerationConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
)

from model_worker import loading
from model_worker.batching import group_by
from tasks.contract import GenerationRequest
from tasks.errors import GenerationFailed, InferenceError, PromptTooLong, UnsupportedRequest
from tasks.settings import Settings

log = logging.getLogger(__name__)

#: A run makes at least this many decode steps before it may be preempted: each resume costs a
#: prefill, and a steady trickle of interactive requests must not keep bulk work from progressing.
PREEMPT_MIN_STEPS = 8
#: (request index, offset, text): a streamed row's new text, starting at character `offset` of it.
TextDelta = tuple[int, int, str]
OnText = Callable[[list[TextDelta]], None]


@dataclass(frozen=True)
class Completion:
    """A request's result as stored in the result backend."""

    text: str
    finish_reason: str  # "stop" (end of text or a stop sequence) | "length" (max_tokens reached)
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Preempted:
    """A request stopped early to make way for interactive work: the tokens it had generated.

    Passed back as its `resume` prefix, it continues where it stopped (the prefix is recomputed,
    as in vLLM's preemption by recomputation)."""

    token_ids: list[int]


@dataclass(frozen=True)
class _Prepared:
    index: int
    request: GenerationRequest
    input_ids: list[int]  # the prompt, then any resumed prefix
    prefix: list[int]

    @property
    def budget(self) -> int:
        """Tokens still to generate."""
        return self.request.max_tokens - len(self.prefix)


class ModelRunner:
    """Owns the model and tokenizer; not thread-safe: call from one thread."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, name: str) -> None:
        self.model, self.tokenizer, self.name = model, tokenizer, name
        self.device = model.device
        tokenizer.padding_side = "left"  # decoder-only: pad on the left so every row ends at "now"
        if tokenizer.pad_token is None:  # e.g. GPT-2
            tokenizer.pad_token = tokenizer.eos_token
        self.eos_ids = _eos_ids(model, tokenizer)
        self.context_length = _context_length(model)

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelRunner:
        """Load MODEL_NAME onto the configured device."""
        device = loading.pick_device(settings.device)
        model, tokenizer = loading.load(settings.model_name, settings.model_cache_dir, device)
        return cls(model, tokenizer, settings.model_name)

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        streamed: Collection[int] = (),
        on_text: OnText | None = None,
        resume: Mapping[int, list[int]] | None = None,
        preempt: Callable[[], bool] | None = None,
        on_done: Callable[[int, Completion], None] | None = None,
    ) -> list[Completion | Preempted | InferenceError]:
        """Run all requests, batching those that can share a generate() call.

        After every decode step, `on_text` gets the new text of the requests whose indices are in
        `streamed` (text that a stop sequence may yet cut is held back until it is decided).
        `resume` maps a request's index to the tokens a preempted run of it generated.
        `preempt`, asked after every step, stops the call when it says so: unfinished requests
        come back as Preempted (never seeded samples, whose answers must not depend on it).
        `on_done` gets each request's Completion as soon as its row finishes, while longer rows
        of the same call go on; the returned list holds it too.
        """
        results: list[Completion | Preempted | InferenceError | None] = [None] * len(requests)
        prepared: list[_Prepared] = []
        for i, request in enumerate(requests):
            prefix = (resume or {}).get(i, [])
            try:
                prepared.append(_Prepared(i, request, self._encode(request) + prefix, prefix))
            except InferenceError as exc:
                results[i] = exc
        for group in group_by(prepared, lambda p: p.request.sampling_key()):
            streams = {row: p.index for row, p in enumerate(group) if p.index in streamed} if on_text else {}
            seeded = group[0].request.seed is not None and not group[0].request.greedy
            run = _Run(streams, on_text, None if seeded else preempt, on_done)
            for item, outcome in zip(group, self._run_group(group, run), strict=True):
                results[item.index] = outcome
        return results  # type: ignore[return-value]  # every slot is filled above

    def _run_group(self, group: list[_Prepared], run: _Run) -> list[Completion | Preempted | InferenceError]:
        try:
            return self._generate(group, run)
        except Exception as exc:
            if len(group) == 1:
                log.exception("generation failed for one request")
                return [GenerationFailed(f"generation failed: {type(exc).__name__}: {exc}")]
            log.warning("batch of %d failed (%s); retrying one by one", len(group), exc)
            return [outcome for row, item in enumerate(group) for outcome in self._run_group([item], run.only(row))]

    def _encode(self, request: GenerationRequest) -> list[int]:
        if request.messages is not None:
            if not self.tokenizer.chat_template:
                raise UnsupportedRequest(f"{self.name} has no chat template; send 'prompt' instead", "messages")
            chat = [{"role": m.role, "content": m.content} for m in request.messages]
            text = self.tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        else:
            ids = self.tokenizer(request.prompt)["input_ids"]
        if len(ids) + request.max_tokens > self.context_length:  # a resumed prefix is part of max_tokens
            raise PromptTooLong(
                f"the prompt is {len(ids)} tokens; with max_tokens={request.max_tokens} it exceeds "
                f"the model's context of {self.context_length} tokens",
                "messages" if request.messages is not None else "prompt",
            )
        return ids

    @torch.inference_mode()
    def _generate(self, group: list[_Prepared], run: _Run) -> list[Completion | Preempted]:
        first = group[0].request
        batch = self.tokenizer.pad({"input_ids": [p.input_ids for p in group]}, return_tensors="pt").to(self.device)
        prompt_len = batch["input_ids"].shape[1]
        stops = _RowStops(self.tokenizer, prompt_len, group, self.eos_ids, run.preempt)
        criteria = StoppingCriteriaList([stops])
        if run.streams and run.on_text is not None:
            criteria.append(_RowStreams(self, stops, run.streams, run.on_text))
        if run.on_done is not None:
            criteria.append(_RowResults(self, stops, group, run.on_done))
        config = GenerationConfig(
            max_new_tokens=max(p.budget for p in group),
            do_sample=not first.greedy,
            temperature=None if first.greedy else first.temperature,
            top_p=None if first.greedy else first.top_p,
            top_k=None,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=sorted(self.eos_ids),
        )
        if not first.greedy and first.seed is not None:
            torch.manual_seed(first.seed)  # seeded requests get a call of their own (sampling_key)
        output = self.model.generate(**batch, generation_config=config, stopping_criteria=criteria)
        return [self._completion(output[row, prompt_len:], stops, row, item) for row, item in enumerate(group)]

    def _completion(
        self, generated: torch.Tensor, stops: _RowStops, row: int, item: _Prepared
    ) -> Completion | Preempted:
        count = stops.finished_at[row]
        tokens = item.prefix + generated[: count or len(generated)].tolist()
        if count is None and stops.preempted:
            return Preempted(tokens)
        text, cut = self._text(tokens, item.request.stop)
        reason = "stop" if cut is not None or stops.reasons[row] == "stop" else "length"
        prompt_tokens = len(item.input_ids) - len(item.prefix)
        return Completion(text if cut is None else cut, reason, prompt_tokens, len(tokens))

    def _text(self, tokens: list[int], stop: tuple[str, ...]) -> tuple[str, str | None]:
        """A row's decoded text, and the text before its first stop sequence (None: none occurs)."""
        if tokens and tokens[-1] in self.eos_ids:
            tokens = tokens[:-1]
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        return text, _cut_at_stop(text, stop)


class _RowStops(StoppingCriteria):
    """Per-row stopping: each row's own max_tokens, stop sequences, and end-of-text; and preemption.

    generate() pads rows that are done and ends when all are, so one call serves requests
    with different lengths and stop sequences. When `preempt` says so, every row stops.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        prompt_len: int,
        group: list[_Prepared],
        eos_ids: set[int],
        preempt: Callable[[], bool] | None,
    ) -> None:
        self.tokenizer, self.prompt_len, self.eos_ids, self.preempt = tokenizer, prompt_len, eos_ids, preempt
        self.requests = [p.request for p in group]
        self.prefixes = [p.prefix for p in group]
        self.budgets = [p.budget for p in group]
        self.finished_at: list[int | None] = [None] * len(group)
        self.reasons: list[str | None] = [None] * len(group)
        self.preempted = False

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        step = input_ids.shape[1] - self.prompt_len
        for row, request in enumerate(self.requests):
            if self.finished_at[row] is not None:
                continue
            reason = None
            if int(input_ids[row, -1]) in self.eos_ids or (request.stop and self._stopped(input_ids[row], row)):
                reason = "stop"
            elif step >= self.budgets[row]:
                reason = "length"
            if reason:
                self.finished_at[row], self.reasons[row] = step, reason
        done = [f is not None for f in self.finished_at]
        if not all(done) and step >= PREEMPT_MIN_STEPS and self.preempt is not None and self.preempt():
            self.preempted, done = True, [True] * len(done)
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    def _stopped(self, ids: torch.Tensor, row: int) -> bool:
        tokens = self.prefixes[row] + ids[self.prompt_len :].tolist()
        return (
            _cut_at_stop(self.tokenizer.decode(tokens, skip_special_tokens=True), self.requests[row].stop) is not None
        )


class _RowResults(StoppingCriteria):
    """Hands each row's Completion to `on_done` in the step it finishes; never stops a row.

    Runs after _RowStops (and _RowStreams, so a row's last text is out before its result).
    """

    def __init__(
        self, runner: ModelRunner, stops: _RowStops, group: list[_Prepared], on_done: Callable[[int, Completion], None]
    ) -> None:
        self.runner, self.stops, self.group, self.on_done = runner, stops, group, on_done
        self.delivered: set[int] = set()

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        for row, item in enumerate(self.group):
            if row in self.delivered or self.stops.finished_at[row] is None:
                continue
            self.delivered.add(row)
            completion = self.runner._completion(input_ids[row, self.stops.prompt_len :], self.stops, row, item)
            try:
                self.on_done(item.index, completion)  # type: ignore[arg-type]  # a finished row completes
            except Exception:
                log.exception("could not hand over a finished request early; it goes with the batch")
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


class _RowStreams(StoppingCriteria):
    """After each decode step, hands the streamed rows' new text to `on_text`; never stops a row.

    Runs after _RowStops in the same step, so a row that has just finished sends its last text.
    A failing `on_text` (Redis away) ends streaming for the call, not the generation.
    """

    def __init__(self, runner: ModelRunner, stops: _RowStops, rows: dict[int, int], on_text: OnText) -> None:
        self.runner, self.stops, self.rows, self.on_text = runner, stops, dict(rows), on_text
        self.sent = dict.fromkeys(rows, "")

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        prompt_len, deltas = self.stops.prompt_len, []
        for row, index in list(self.rows.items()):
            end = self.stops.finished_at[row]
            tokens = input_ids[row, prompt_len : prompt_len + end if end else None].tolist()
            stop = self.stops.requests[row].stop
            text, cut = self.runner._text(tokens, stop)
            settled = cut if cut is not None else text if end else _unsettled_tail_removed(text, stop)
            sent = self.sent[row]
            if len(settled) > len(sent) and settled.startswith(sent):
                deltas.append((index, len(sent), settled[len(sent) :]))
                self.sent[row] = settled
            if end:
                del self.rows[row]
        if deltas:
            try:
                self.on_text(deltas)
            except Exception:
                log.exception("streaming failed; the rest of these answers arrive whole")
                self.rows.clear()
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


@dataclass(frozen=True)
class _Run:
    """How a group runs: which rows stream to `on_text`, and what may preempt it."""

    streams: dict[int, int]  # row -> request index
    on_text: OnText | None
    preempt: Callable[[], bool] | None
    on_done: Callable[[int, Completion], None] | None

    def only(self, row: int) -> _Run:
        """The same, for that row alone (a retry one by one)."""
        streams = {0: self.streams[row]} if row in self.streams else {}
        return _Run(streams, self.on_text, self.preempt, self.on_done)


def _unsettled_tail_removed(text: str, stops: tuple[str, ...]) -> str:
    """`text` less a tail that may still change: a partly decoded character, or a stop's prefix."""
    text = text.rstrip("\ufffd")  # bytes of a character whose remaining bytes are still to come
    hold = max((k for s in stops for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
    return text[: len(text) - hold]


def _cut_at_stop(text: str, stops: tuple[str, ...]) -> str | None:
    """The text before the earliest stop sequence, or None if none occurs."""
    positions = [i for i in (text.find(s) for s in stops) if i >= 0]
    return text[: min(positions)] if positions else None


def _eos_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> set[int]:
    ids = model.generation_config.eos_token_id if model.generation_config is not None else None
    found = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        found.add(tokenizer.eos_token_id)
    return found


def _context_length(model: PreTrainedModel) -> int:
    config = model.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048
