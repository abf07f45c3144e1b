"""One request's row in the engine: its tokens, sampling state, text and end.

A Sequence keeps everything needed to continue it: taken out of the batch (to make way for
interactive work), it keeps its generated tokens, its random generator and a copy of its cached
keys and values (vLLM's preemption by swapping, in host memory), so when it is added again its
answer comes out exactly as if it had never left.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from model_worker import scoring
from model_worker.scoring import Scored
from tasks import tools
from tasks.contract import GenerationRequest

_admissions = itertools.count()


@dataclass(frozen=True)
class Completion:
    """A request's result as stored in the result backend."""

    text: str
    finish_reason: str  # "stop" (end of text or a stop sequence) | "length" (max_tokens reached)
    prompt_tokens: int
    completion_tokens: int
    #: Asked for (GenerationRequest.logprobs): per generated token [text, logprob, [[text, logprob], ...]].
    logprobs: list[list[Any]] | None = None
    #: Asked for (prompt_logprobs): the same per prompt token; the first has no logprob (None).
    prompt_logprobs: list[list[Any]] | None = None
    #: The calls the answer made (tools offered): OpenAI's tool_calls; `text` is then the rest of it.
    tool_calls: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        """The result as stored: log-probabilities only where they were asked for."""
        optional = ("logprobs", "prompt_logprobs", "tool_calls")
        return {k: v for k, v in asdict(self).items() if v is not None or k not in optional}


@dataclass(eq=False)
class Sequence:
    """A request being generated; `key` is the caller's handle for it (a Celery request)."""

    key: Any
    request: GenerationRequest
    prompt: list[int]
    stream: bool = False
    generated: list[int] = field(default_factory=list)
    #: Sampled rows draw from their own generator: seeded by the request's seed, so a seeded
    #: answer never depends on the rows it shares a batch with.
    generator: torch.Generator | None = None
    #: A structured row's grammar matcher (model_worker/constraints.py), None for free text.
    matcher: Any = None
    #: Log-probabilities, for the requests that ask: of each generated token, of each prompt token.
    scored: list[Scored] = field(default_factory=list)
    prompt_scored: list[Scored] = field(default_factory=list)
    #: Engine state: the slot it occupies (None: not in the batch), how many of its tokens have
    #: keys and values in that slot (or in `saved`, while out of the batch), when it was last
    #: admitted.
    slot: int | None = None
    computed: int = 0
    saved: Any = None
    admitted: int = 0
    steps: int = 0  # decode steps since it was last admitted
    sent: str = ""  # the streamed text so far
    #: Scheduler state: its lane, and whether it must run alone (after a step that failed).
    lane: int = 0
    alone: bool = False
    #: The service's own work, which no one waits for (a cache verification): see Engine.step.
    background: bool = False

    @property
    def tokens(self) -> list[int]:
        """Its prompt, then what it has generated."""
        return self.prompt + self.generated

    @property
    def decoding(self) -> bool:
        """Every token but the last sampled one is cached: it feeds one token per step."""
        return self.computed >= len(self.prompt) + len(self.generated) - 1

    def admit(self, slot: int) -> None:
        """Enter the batch in `slot` (its cache is restored into it, if it has one saved)."""
        self.slot, self.steps, self.admitted = slot, 0, next(_admissions)
        if self.saved is None:
            self.computed = 0

    def sampler(self, device: torch.device) -> torch.Generator | None:
        """Its generator (created on first use; None for greedy requests)."""
        if self.request.greedy:
            return None
        if self.generator is None:
            seed = self.request.seed if self.request.seed is not None else int.from_bytes(os.urandom(8), "big") >> 1
            self.generator = torch.Generator(device=device).manual_seed(seed)
        return self.generator


class Texts:
    """Token ids to text for one model: stop sequences, streamed deltas, completions."""

    def __init__(self, tokenizer: Any, eos_ids: set[int]) -> None:
        self.tokenizer, self.eos_ids = tokenizer, eos_ids

    def finish_reason(self, seq: Sequence) -> str | None:
        """Why `seq` ends after its newest token, or None while it goes on."""
        if seq.generated[-1] in self.eos_ids or (seq.matcher is not None and seq.matcher.is_stopped()):
            return "stop"  # the end of text, or of the structure asked for
        if seq.request.stop and _cut_at_stop(self.text(seq.generated), seq.request.stop) is not None:
            return "stop"
        if len(seq.generated) >= seq.request.max_tokens:
            return "length"
        return None

    def completion(self, seq: Sequence, reason: str) -> Completion:
        """The finished sequence's result: its text up to the first stop sequence."""
        text = self.text(seq.generated)
        cut = _cut_at_stop(text, seq.request.stop)
        completion = Completion(text if cut is None else cut, reason, len(seq.prompt), len(seq.generated))
        if seq.request.logprobs is not None:
            kept = scoring.named(self.tokenizer, seq.generated, seq.scored, len(completion.text))
            completion = replace(completion, logprobs=kept)
        if seq.request.prompt_logprobs:
            completion = replace(
                completion, prompt_logprobs=scoring.named(self.tokenizer, seq.prompt, seq.prompt_scored)
            )
        if seq.request.tools and seq.request.tool_choice != "none":
            completion = self._with_calls(seq, completion)
        return completion

    def _with_calls(self, seq: Sequence, completion: Completion) -> Completion:
        """The answer's tool calls, read with special tokens kept (a model's <tool_call> may be one)."""
        tokens = seq.generated[:-1] if seq.generated and seq.generated[-1] in self.eos_ids else seq.generated
        raw = self.tokenizer.decode(tokens, skip_special_tokens=False)
        if self.tokenizer.pad_token:
            raw = raw.replace(self.tokenizer.pad_token, "")
        content, calls = tools.parse_calls(raw, seq.request.tools or ())
        if not calls:
            return completion
        # A forced call to a named function ends as "stop" in OpenAI's API; one the model chose, "tool_calls".
        reason = "tool_calls" if seq.request.tool_choice in ("auto", "required") else "stop"
        return replace(completion, text=content or "", finish_reason=reason, tool_calls=calls)

    def delta(self, seq: Sequence, finished: bool) -> tuple[int, str] | None:
        """(offset, text) newly settled since the last call, for a streamed sequence.

        Text a stop sequence could still cut, and a partly decoded character, wait for the next
        token; a finished sequence sends everything up to its stop.
        """
        text = self.text(seq.generated)
        cut = _cut_at_stop(text, seq.request.stop)
        settled = cut if cut is not None else text if finished else _unsettled_tail_removed(text, seq.request.stop)
        if len(settled) > len(seq.sent) and settled.startswith(seq.sent):
            offset, seq.sent = len(seq.sent), settled
            return offset, settled[offset:]
        return None

    def text(self, tokens: list[int]) -> str:
        """Decoded text, without a final end-of-text token."""
        if tokens and tokens[-1] in self.eos_ids:
            tokens = tokens[:-1]
        return self.tokenizer.decode(tokens, skip_special_tokens=True)


def _unsettled_tail_removed(text: str, stops: tuple[str, ...]) -> str:
    """`text` less a tail that may still change: a partly decoded character, or a stop's prefix."""
    text = text.rstrip("\ufffd")  # bytes of a character whose remaining bytes are still to come
    hold = max((k for s in stops for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
    return text[: len(text) - hold]


def _cut_at_stop(text: str, stops: tuple[str, ...]) -> str | None:
    """The text before the earliest stop sequence, or None if none occurs."""
    positions = [i for i in (text.find(s) for s in stops) if i >= 0]
    return text[: min(positions)] if positions else None


def sample(logits: torch.Tensor, seqs: list[Sequence]) -> list[int]:
    """The next token of each sequence from its row of `logits`: greedy, or its own sampler."""
    greedy = logits.argmax(dim=-1).tolist()
    tokens = []
    for row, seq in enumerate(seqs):
        generator = seq.sampler(logits.device)
        if generator is None:
            tokens.append(greedy[row])
            continue
        scores = logits[row] / seq.request.temperature
        if seq.request.top_p < 1.0:
            scores = _top_p(scores, seq.request.top_p)
        probs = torch.softmax(scores, dim=-1)
        tokens.append(int(torch.multinomial(probs, 1, generator=generator)))
    return tokens


def _top_p(scores: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose probability reaches top_p (at least one)."""
    ordered, order = torch.sort(scores)
    cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
    drop = cumulative <= 1 - top_p
    drop[-1] = False
    return scores.masked_fill(torch.zeros_like(drop).scatter(0, order, drop), float("-inf"))
