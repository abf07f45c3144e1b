"""The engine: iteration-level scheduling over one model (continuous batching).

Rows join and leave the running batch between any two decode steps. Each `step()` is one
forward pass over every row in the batch: a decoding row feeds its newest token, a newly added
row feeds its prompt in chunks, all packed together up to MAX_STEP_TOKENS tokens (vLLM's chunked
prefill), so a newcomer's prefill never stops the others for longer than one step. A row that
finishes is handed back in the step it finishes, and its slot is free for the next step.

The engine knows nothing of Celery or Redis: the scheduler (model_worker/scheduler.py) decides
who is added and removed, and what happens to the results. Not thread-safe: use one thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from model_worker import forwards, loading, precision, scoring
from model_worker.attention import Feed, next_boundary
from model_worker.constraints import Constraints
from model_worker.prefix_cache import PrefixCache, usable_prefix
from model_worker.sequence import Completion, Sequence, Texts, sample
from tasks import chat, structured, tools
from tasks.contract import GenerationRequest
from tasks.errors import GenerationFailed, InferenceError, PromptTooLong, UnsupportedRequest
from tasks.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Step:
    """What one step produced: streamed text, and the sequences that ended with their outcome."""

    deltas: list[tuple[Sequence, int, str]] = field(default_factory=list)  # (seq, offset, text)
    finished: list[tuple[Sequence, Completion | InferenceError]] = field(default_factory=list)
    tokens: int = 0  # tokens fed through the model
    rows: int = 0  # rows in the batch during the step
    background: bool = False  # on the CPU, background rows alone (cache verifications): one thread


class Engine:
    """A model, its tokenizer and a batch of up to `max_rows` rows."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        name: str,
        max_rows: int = 16,
        max_step_tokens: int = 256,
        dtype: str = "float32",
        cache_dir: str | None = None,
        prefix_cache_tokens: int = 4096,
    ) -> None:
        self.model, self.tokenizer, self.name, self.dtype = model, tokenizer, name, dtype
        self.device = model.device
        self.max_rows, self.max_step_tokens = max_rows, max(max_step_tokens, 2 * max_rows)
        if tokenizer.pad_token is None:  # e.g. GPT-2; only the chat template may look at it
            tokenizer.pad_token = tokenizer.eos_token
        self.eos_ids = _eos_ids(model, tokenizer)
        self.context_length = _context_length(model)
        self.texts = Texts(tokenizer, self.eos_ids)
        self.constraints = Constraints(tokenizer, self.eos_ids)
        self.forward = forwards.build(model, tokenizer, max_rows, dtype, Path(cache_dir) if cache_dir else None)
        reuse = prefix_cache_tokens > 0 and self.forward.reuses_prefixes
        self.prefixes = PrefixCache(prefix_cache_tokens) if reuse else None
        self.rows: list[Sequence] = []  # slot i holds rows[i]: the batch is always compact
        self.threads = torch.get_num_threads()

    @classmethod
    def from_settings(cls, settings: Settings) -> Engine:
        """Load MODEL_NAME onto the configured device, in MODEL_DTYPE."""
        device = loading.pick_device(settings.device)
        dtype = precision.resolve(settings.model_dtype, device)
        model, tokenizer = loading.load(
            settings.model_name, settings.model_cache_dir, device, precision.load_dtype(dtype), settings.adapter_path
        )
        return cls(
            model,
            tokenizer,
            settings.model_name,
            settings.max_batch_size,
            settings.max_step_tokens,
            dtype,
            settings.model_cache_dir,
            settings.prefix_cache_tokens,
        )

    @property
    def free(self) -> int:
        """Rows that can be added now."""
        return self.max_rows - len(self.rows)

    def prepare(self, request: GenerationRequest, key: Any = None, stream: bool = False) -> Sequence:
        """A sequence for `request`; InferenceError if it cannot run (too long, no chat template)."""
        seq = Sequence(key, request, self._encode(request), stream)
        grammar = structured.grammar(request.response_format) if request.response_format else None
        if request.tools:
            grammar = tools.grammar(request.tools, request.tool_choice, tools.tag_terms(self.tokenizer)) or grammar
        if grammar is not None:
            seq.matcher = self.constraints.matcher(grammar)
        return seq

    def add(self, seq: Sequence) -> None:
        """Put a sequence in the batch: restored where it stopped, or prefilled from the next step
        (from the end of the longest cached prefix it shares with an earlier prompt)."""
        if not self.free:
            raise RuntimeError("the batch is full")
        seq.admit(len(self.rows))
        if seq.saved is not None:
            self.forward.restore(seq.slot, seq.saved)  # type: ignore[arg-type]
            seq.saved = None
        self.rows.append(seq)

    def remove(self, seq: Sequence, keep: bool = False) -> None:
        """Take a sequence out of the batch; with `keep`, it can be added again later (preempted)."""
        slot = seq.slot
        assert slot is not None and self.rows[slot] is seq, "not in the batch"
        if keep:
            seq.saved = self.forward.save(slot, seq.computed)
        last = self.rows.pop()
        if last is not seq:  # fill the hole with the last row, so the slots stay 0..n-1
            self.forward.move(last.slot, slot, last.computed)  # type: ignore[arg-type]
            last.slot = slot
            self.rows[slot] = last
        self.forward.release(len(self.rows))
        seq.slot = None

    @torch.inference_mode()
    def step(self) -> Step:
        """One forward pass over the batch: every decoding row advances one token, newcomers a chunk."""
        step = Step(rows=len(self.rows))
        feeds, fed = self._schedule()
        if not feeds:
            return step
        step.background = self._use_threads(fed)
        logits = self.forward.forward(feeds)
        wanting, rows, row = [], [], 0
        for feed, seq in zip(feeds, fed, strict=True):
            count = len(feed.tokens) if feed.every_logit else int(feed.wants_logits)
            if feed.every_logit:  # a prompt to score: the logits after each of its tokens
                scoring.score_prompt(seq, feed.start, logits[row : row + count])
            seq.computed += len(feed.tokens)
            step.tokens += len(feed.tokens)
            if feed.wants_logits and seq.request.max_tokens == 0:  # scored, nothing to generate
                step.finished.append((seq, self.texts.completion(seq, "length")))
            elif feed.wants_logits:
                wanting.append(seq)
                rows.append(row + count - 1)
            row += count
        if len(rows) != logits.shape[0]:
            logits = logits[rows]
        for seq, token in zip(wanting, self._sample(logits, wanting, step), strict=True):
            if token is None:
                continue
            if seq.matcher is not None and not seq.matcher.consume_token(token):
                step.finished.append((seq, GenerationFailed(f"structured output: {seq.matcher.get_error()}")))
                continue
            if not seq.generated and self.prefixes is not None:  # its prompt is prefilled: keep it
                self.prefixes.add(seq.prompt, self.forward.save(seq.slot, len(seq.prompt)))  # type: ignore[arg-type]
            seq.generated.append(token)
            seq.steps += 1
            reason = self.texts.finish_reason(seq)
            if seq.stream and (delta := self.texts.delta(seq, reason is not None)) is not None:
                step.deltas.append((seq, *delta))
            if reason is not None:
                step.finished.append((seq, self.texts.completion(seq, reason)))
        for seq, _ in step.finished:
            self.remove(seq)
        return step

    def _use_threads(self, fed: list[Sequence]) -> bool:
        """On the CPU, a step of background rows alone (cache verifications) runs on one thread: the
        API answering cache hits beside the worker keeps the other cores (README: "Verified hits").
        True for such a step."""
        background = self.device.type == "cpu" and all(seq.background for seq in fed)
        wanted = 1 if background else self.threads
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)
        return background

    def _schedule(self) -> tuple[list[Feed], list[Sequence]]:
        """This step's feeds: a token per decoding row, then prompt chunks within the budget.

        Chunks end at fixed boundaries (attention.next_boundary) whatever the budget, so a row's
        arithmetic never depends on the load; the oldest newcomer goes first, and at least one
        chunk goes each step, so a prompt always progresses.
        """
        feeds, fed = [], []
        for seq in self.rows:
            if seq.decoding:
                feeds.append(Feed(seq.slot, seq.computed, seq.tokens[seq.computed :], True))  # type: ignore[arg-type]
                fed.append(seq)
        budget, chunked = self.max_step_tokens - len(feeds), False
        prefilling = sorted((s for s in self.rows if not s.decoding), key=lambda s: s.admitted)
        for i, seq in enumerate(prefilling):
            if seq.computed == 0 and not self._reuse_prefix(seq, prefilling[:i]):
                continue
            tokens, start = seq.tokens, seq.computed
            while start < len(tokens):
                end = min(next_boundary(start), len(tokens))
                if end - start > budget and chunked:
                    return feeds, fed
                every_logit = seq.request.prompt_logprobs
                feeds.append(Feed(seq.slot, start, tokens[start:end], end == len(tokens), every_logit))  # type: ignore[arg-type]
                fed.append(seq)
                budget, start, chunked = budget - (end - start), end, True
        return feeds, fed

    def _reuse_prefix(self, seq: Sequence, ahead: list[Sequence]) -> bool:
        """Start a newcomer from the longest cached prefix of its prompt; False: it waits a step,
        because a newcomer ahead of it is computing a longer prefix it shares (a burst of chat
        requests would otherwise all compute their template's system prompt at once)."""
        if self.prefixes is None or seq.request.prompt_logprobs:  # a prompt to score is computed whole
            return True
        hit = self.prefixes.longest(seq.prompt)
        cached = hit[1] if hit is not None else 0
        if any(usable_prefix(o.prompt, seq.prompt) > cached for o in ahead if o.computed < len(o.prompt)):
            return False
        if hit is not None:
            seq.computed = cached
            self.forward.restore(seq.slot, self.prefixes.use(*hit), cached)  # type: ignore[arg-type]
        return True

    def _sample(self, logits: torch.Tensor, seqs: list[Sequence], step: Step) -> list[int | None]:
        """Next tokens; a row whose sampling fails (NaN scores, say) ends alone with the error."""
        wanted = [row for row, seq in enumerate(seqs) if seq.request.logprobs is not None]
        # The model's own distribution: before temperature, top_p and a grammar's mask (as vLLM's default).
        logprobs = torch.log_softmax(logits[wanted], dim=-1) if wanted else None
        self.constraints.mask(logits, [(row, seq.matcher) for row, seq in enumerate(seqs) if seq.matcher is not None])
        tokens = self._sample_rows(logits, seqs, step)
        if logprobs is not None:
            for i, row in enumerate(wanted):
                if tokens[row] is not None:
                    seqs[row].scored.append(scoring.scored(logprobs[i], tokens[row], seqs[row].request.logprobs))
        return tokens

    def _sample_rows(self, logits: torch.Tensor, seqs: list[Sequence], step: Step) -> list[int | None]:
        try:
            return list(sample(logits, seqs))
        except RuntimeError:
            tokens: list[int | None] = []
            for row, seq in enumerate(seqs):
                try:
                    tokens.append(sample(logits[row : row + 1], [seq])[0])
                except RuntimeError as exc:
                    log.exception("sampling failed for one row")
                    step.finished.append((seq, GenerationFailed(f"sampling failed: {exc}")))
                    tokens.append(None)
            return tokens

    def generate(
        self,
        requests: Iterable[GenerationRequest],
        streamed: Iterable[int] = (),
        on_text: Callable[[int, int, str], None] | None = None,
    ) -> list[Completion | InferenceError]:
        """Run requests to the end in this thread (tests, benchmarks, quality checks).

        `on_text(index, offset, text)` gets the streamed text of the requests in `streamed`.
        """
        if self.rows:
            raise RuntimeError("generate() runs on an idle engine; use add() and step() beside other rows")
        requests = list(requests)
        streamed = set(streamed)
        outcomes: list[Completion | InferenceError | None] = [None] * len(requests)
        waiting: list[Sequence] = []
        for i, request in enumerate(requests):
            try:
                waiting.append(self.prepare(request, key=i, stream=i in streamed))
            except InferenceError as exc:
                outcomes[i] = exc
        waiting.reverse()
        while waiting or self.rows:
            while waiting and self.free:
                self.add(waiting.pop())
            step = self.step()
            for seq, offset, text in step.deltas:
                if on_text is not None:
                    on_text(seq.key, offset, text)
            for seq, outcome in step.finished:
                outcomes[seq.key] = outcome
        return outcomes  # type: ignore[return-value]  # every request ended above

    def _encode(self, request: GenerationRequest) -> list[int]:
        if request.messages is not None:
            if not self.tokenizer.chat_template:
                raise UnsupportedRequest(f"{self.name} has no chat template; send 'prompt' instead", "messages")
            ids = self.tokenizer(chat.render(self.tokenizer, request), add_special_tokens=False)["input_ids"]
        else:
            ids = self.tokenizer(request.prompt)["input_ids"]
        if not ids:
            ids = [self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else min(self.eos_ids)]
        if len(ids) + request.max_tokens > self.context_length:
            raise PromptTooLong(
                f"the prompt is {len(ids)} tokens; with max_tokens={request.max_tokens} it exceeds "
                f"the model's context of {self.context_length} tokens",
                "messages" if request.messages is not None else "prompt",
            )
        return ids


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
