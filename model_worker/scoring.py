"""Log-probabilities of tokens under the model: each prompt token's (echo, scoring) and each
sampled token's, with their likeliest alternatives, kept on the Sequence as (id, logprob, top)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from model_worker.sequence import Sequence

#: A token's log-probability: (token id, logprob, its likeliest alternatives as (id, logprob)).
Scored = tuple[int, float | None, list[tuple[int, float]]]
#: Tokens decoded before each one, so its text keeps what it shares with them (a SentencePiece
#: token's leading space, the rest of a character's bytes).
CONTEXT = 4


def score_prompt(seq: Sequence, start: int, logits: torch.Tensor) -> None:
    """Note the log-probability of each prompt token that follows a position in this chunk."""
    if not seq.prompt_scored:
        seq.prompt_scored.append((seq.prompt[0], None, []))  # the first token follows nothing
    logprobs = torch.log_softmax(logits, dim=-1)
    for offset in range(logits.shape[0]):
        target = start + offset + 1
        if target < len(seq.prompt) and len(seq.prompt_scored) == target:  # once, even if recomputed
            seq.prompt_scored.append(scored(logprobs[offset], seq.prompt[target], seq.request.logprobs or 0))


def scored(logprobs: torch.Tensor, token: int, alternatives: int) -> Scored:
    """(token, its logprob, the `alternatives` likeliest tokens and theirs) from one row of logprobs."""
    top = logprobs.topk(alternatives) if alternatives else None
    likeliest = list(zip(top.indices.tolist(), top.values.tolist(), strict=True)) if top is not None else []
    return token, float(logprobs[token]), likeliest


def named(tokenizer: Any, tokens: list[int], scored: list[Scored], length: int | None = None) -> list[list[Any]]:
    """[text, logprob, [[text, logprob], ...]] for scored[i], the score of tokens[i]; each text is what
    the token adds to the text before it, so the texts join into the decoded text. With `length`,
    only the tokens that start within the first `length` characters (a stop sequence cut the rest)."""
    out, at = [], 0
    for i, (token, logprob, alternatives) in enumerate(scored):
        context = tokens[max(0, i - CONTEXT) : i]
        text = _added(tokenizer, context, token)
        if length is not None and at >= length:
            break
        top = [[_added(tokenizer, context, t), lp] for t, lp in alternatives] if logprob is not None else None
        out.append([text, logprob, top])
        at += len(text)
    return out


def _added(tokenizer: Any, context: list[int], token: int) -> str:
    before = tokenizer.decode(context, skip_special_tokens=True)
    after = tokenizer.decode([*context, token], skip_special_tokens=True)
    return after[len(before) :] if after.startswith(before) else tokenizer.decode([token], skip_special_tokens=True)
