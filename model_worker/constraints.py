"""Constrained decoding: each structured row gets a grammar matcher that masks its next token.

One llguidance matcher per row (tasks/structured.py and tasks/tools.py write the grammars): before sampling, the
row's logits lose every token the grammar does not allow next; after sampling, the matcher takes
the chosen token. A row ends when its grammar is complete. The matcher lives on the Sequence, so a
row that leaves the batch and comes back (preemption) resumes its grammar where it stopped.

The tokenizer's llguidance form takes about half a second to build: it is built at the first
structured request and kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from llguidance import LLMatcher, LLTokenizer
from llguidance.hf import from_tokenizer

from tasks.errors import InvalidRequest, UnsupportedRequest


class Constraints:
    """Grammar matchers for one tokenizer."""

    def __init__(self, tokenizer: Any, eos_ids: set[int]) -> None:
        self.tokenizer, self.eos_ids = tokenizer, eos_ids
        self._ll: LLTokenizer | None = None

    def matcher(self, grammar: str) -> LLMatcher:
        """A fresh matcher for a grammar (tasks/structured.py, tasks/tools.py); InvalidRequest if it
        does not compile."""
        matcher = LLMatcher(self._ll_tokenizer(), grammar, log_level=0)
        if matcher.is_error():
            raise InvalidRequest(f"the output's grammar cannot be used: {matcher.get_error()}", "response_format")
        return matcher

    def mask(self, logits: torch.Tensor, rows: list[tuple[int, LLMatcher]]) -> None:
        """Set to -inf, in `logits` (rows x vocabulary), every token the row's matcher forbids."""
        if not rows:
            return
        words = (self._ll_tokenizer().vocab_size + 31) // 32
        bits = np.empty((len(rows), words), dtype=np.int32)
        for i, (_, matcher) in enumerate(rows):
            matcher.unsafe_compute_mask_ptr(bits[i].ctypes.data, bits[i].nbytes)
        allowed = np.unpackbits(bits.view(np.uint8), axis=1, bitorder="little")
        vocabulary = logits.shape[-1]
        if allowed.shape[1] < vocabulary:  # the model's embedding is padded past the tokenizer
            allowed = np.pad(allowed, ((0, 0), (0, vocabulary - allowed.shape[1])))
        forbidden = torch.from_numpy(allowed[:, :vocabulary] == 0).to(logits.device)
        index = torch.tensor([row for row, _ in rows], device=logits.device)
        logits[index] = logits[index].masked_fill(forbidden, float("-inf"))

    def _ll_tokenizer(self) -> LLTokenizer:
        if self._ll is None:
            try:
                self._ll = from_tokenizer(self.tokenizer, eos_token=sorted(self.eos_ids))
            except ValueError as exc:  # a slow (Python) tokenizer
                raise UnsupportedRequest(f"response_format needs a fast tokenizer ({exc})", "response_format") from exc
        return self._ll
