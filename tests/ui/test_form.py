"""The submit form comes from the spec's JSON schema: every scalar field, its default and description."""

from __future__ import annotations

from stjob.api.spec import TrainingSpec
from stjob.ui.form import form_fields, form_html


def test_every_scalar_field_of_the_spec_is_an_input() -> None:
    fields = {f.path: f for f in form_fields()}
    assert fields["trainer"].kind == "enum" and "pair_score" in fields["trainer"].options
    assert fields["training.epochs"].default == TrainingSpec().epochs
    assert fields["training.learningRate"].kind == "number"
    assert fields["output.hub.push"].kind == "boolean"
    assert fields["training.epochs"].description == TrainingSpec.model_fields["epochs"].description


def test_the_hub_token_is_only_a_secret_reference() -> None:
    paths = [f.path for f in form_fields()]
    assert "output.hub.tokenSecretRef.name" in paths
    assert not [p for p in paths if p.lower().endswith("token")]


def test_inputs_carry_path_kind_default_and_help() -> None:
    html = form_html(form_fields())
    assert 'data-path="training.epochs" data-kind="integer"' in html
    assert "<legend>training</legend>" in html and "<small>" in html
