"""Log-probabilities of tokens under the model: each prompt token's (echo, scoring) and each
sampled token's, with their likeliest alternatives, kept on the Sequence as (id, logprob, top)."""

from __future__ import annotations

import torch

from model_worker.sequence import Scored, Sequence


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
