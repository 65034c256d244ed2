"""``stjob ui --local-runs`` over folders the real trainer wrote (``stjob train``, a tiny BERT): what the page
reads is what the trainer leaves, not a copy of its shapes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from starlette.testclient import TestClient
from typer.testing import CliRunner

from stjob.cli import app as cli
from stjob.errors import EXIT_QUALITY_GATE
from stjob.ui.app import create_app
from stjob.ui.local_runs import LOCAL_NAMESPACE, LocalRunsSource
from tests.cli.test_train import ROOT, localize, write_example_data


def test_a_trained_run_and_a_missed_gate(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("STJOB_TERMINATION_LOG", str(tmp_path / "termination-log"))
    runs, volume = tmp_path / "runs", tmp_path / "volume"
    for project, gate in (("entailment", None), ("gated", {"minImprovement": 1.0})):
        job_file = tmp_path / f"{project}.yaml"
        job = localize(ROOT / "examples" / "pair_class.yaml", tiny_model_dir, job_file)
        write_example_data(job, volume)
        doc = yaml.safe_load(job_file.read_text(encoding="utf-8"))
        doc["spec"]["output"]["projectName"] = project
        if gate:
            doc["spec"]["evaluation"] = {"gate": gate}  # accuracy cannot rise by a whole point
        job_file.write_text(yaml.safe_dump(doc), encoding="utf-8")
        args = ["train", str(job_file), "--output-dir", str(runs), "--data-dir", str(volume)]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == (EXIT_QUALITY_GATE if gate else 0), result.output + caplog.text

    jobs = {j["metadata"]["name"]: j for j in LocalRunsSource(runs).list_jobs()}
    trained = jobs["entailment"]
    assert trained["spec"]["trainer"] == "pair_class"  # from the checkpoints' fingerprint
    assert trained["spec"]["training"]["epochs"] == 1
    status = trained["status"]
    assert status["phase"] == "Succeeded" and status["progress"]["percent"] == 100
    assert status["evaluation"]["primaryMetric"] == "accuracy"
    assert set(status["evaluationReport"]) >= {"accuracy"}
    assert status["metrics"]["primaryMetric"] == "eval_accuracy" and "bestMetricValue" in status["metrics"]

    gated = jobs["gated"]["status"]
    assert gated["phase"] == "Failed" and gated["conditions"][0]["reason"] == "QualityGateFailed"
    assert gated["evaluation"]["primaryMetric"] == "accuracy"  # the report that missed the gate

    client = TestClient(create_app(LocalRunsSource(runs), runs_dir=runs, hosts=("testserver",)))
    records = client.get(f"/jobs/{LOCAL_NAMESPACE}/entailment/metrics").json()["records"]
    assert any("loss" in r for r in records) and any("eval_accuracy" in r for r in records)
    page = client.get(f"/jobs/{LOCAL_NAMESPACE}/gated").text
    assert "Failed: QualityGateFailed" in page and "<table id=evaluation>" in page
