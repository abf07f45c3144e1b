"""The paraphrase model: does prompt B ask what prompt A asks? The semantic tier's last word.

The guard's rules (guard.py) catch what changes a request in a way they can name: a number, a
negation, an antonym, a time, a role. Where they only find words they cannot explain (a synonym
WordNet lacks: "signs" / "symptoms") or too many words to compare (a rewording), the cosine of two
sentence embeddings cannot tell a paraphrase from a sibling ("cat" / "rabbit"). A cross-encoder,
reading both prompts at once, can: it is all-MiniLM-L6-v2 fine-tuned on the labelled pairs
(paraphrase_training.py), and gives the probability that one answer serves both. It scores both
orders and averages them, so the score is symmetric. Concurrent requests' pairs are scored together,
in one forward pass (coalesce.py).

The weights are trained by scripts/setup.sh into MODEL_CACHE_DIR (nothing is downloaded). Without
them the cache falls back to the rules alone and the rewording threshold (README: "Cache trust").
"""

from __future__ import annotations

import logging
import threading
from functools import partial
from pathlib import Path
from typing import Any

from webapi.cache.coalesce import Coalescer

log = logging.getLogger(__name__)

#: The longest pair read, in word pieces, in training as in use (the embedder's own window is 256;
#: prompts the semantic tier compares are short).
MAX_LENGTH = 128
#: The most pairs scored in one forward pass (each is read in both orders).
MAX_BATCH = 32


class ParaphraseModel:
    """Scores prompt pairs; safe to call from many threads.

    Building one reads nothing: the weights load in `load()` (where a process starts) or on first use.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._model: Any = None
        self._tokenizer: Any = None
        self._loading = threading.Lock()
        self._score = Coalescer(self._score_batch, MAX_BATCH)

    def load(self) -> ParaphraseModel:
        """Read the weights (once); returns self. The model runs as one compiled call (bert.py), its
        Linear layers on the worker's int8 kernels (model_worker/precision.py): 2.5x float32's speed
        here, and a pair's score does not depend on the other pairs of its batch."""
        with self._loading:
            if self._model is None:
                from transformers import AutoModelForSequenceClassification, AutoTokenizer

                from webapi.cache import bert

                self._tokenizer = AutoTokenizer.from_pretrained(self.directory)
                model = AutoModelForSequenceClassification.from_pretrained(self.directory)
                self._model = bert.classifier_of(model, int8=True)
        return self

    def scores(self, prompt: str, others: list[str]) -> list[float]:
        """For each of `others`: the probability that one answer serves it and `prompt`."""
        return self.score_pairs([(prompt, other) for other in others])

    def score_pairs(self, pairs: list[tuple[str, str]]) -> list[float]:
        """For each pair: the probability that one answer serves both prompts."""
        return self._score(pairs) if pairs else []

    def _score_batch(self, pairs: list[tuple[str, str]]) -> list[float]:
        import torch

        from webapi.cache import bert

        self.load()
        firsts = [a for a, _ in pairs] + [b for _, b in pairs]
        seconds = [b for _, b in pairs] + [a for a, _ in pairs]
        with torch.inference_mode():
            encoded = self._tokenizer(firsts, seconds, padding=True, truncation=True, max_length=MAX_LENGTH,
                                      return_tensors="pt")  # fmt: skip
            logits = bert.by_length(partial(bert.compiled_classified, self._model), encoded["attention_mask"],
                                    encoded["input_ids"], encoded["token_type_ids"])  # fmt: skip
            probabilities = torch.sigmoid(logits.squeeze(-1)).tolist()
        n = len(pairs)
        return [(probabilities[i] + probabilities[n + i]) / 2 for i in range(n)]


def at(directory: str) -> ParaphraseModel | None:
    """The model trained into `directory` (not yet loaded), or None where there is none: with a
    warning, unless the model is off (`directory` empty or "off")."""
    if directory in ("", "off"):
        return None
    from webapi.cache import paraphrase_training  # here: it imports this module (MAX_LENGTH)

    if not (Path(directory) / "config.json").exists():
        log.warning("no paraphrase model in %s (llm-cache train-paraphrase): the cache judges by its rules and "
                    "CACHE_REWORDING_THRESHOLD alone", directory)  # fmt: skip
        return None
    # A model trained here from other sets or another recipe is not the one the default thresholds
    # were chosen for (a model trained elsewhere has no stamp: its user chose its thresholds).
    stamped = (Path(directory) / paraphrase_training.DIGEST_FILE).exists()
    if stamped and not paraphrase_training.trained(Path(directory), paraphrase_training.training_sets()):
        log.warning("the paraphrase model in %s was trained from other pair sets or another recipe than this "
                    "code's (llm-cache train-paraphrase): the cache judges by its rules alone", directory)  # fmt: skip
        return None
    return ParaphraseModel(Path(directory))
