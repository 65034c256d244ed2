"""Command-line entry points: ``stjob-trainer --config FILE`` (the container) and ``stjob train`` (local).

Both run :func:`stjob_trainer.run.run_job`; this module turns the outcome into an exit code, the
termination message and ``result.json`` (contract: docs/contracts.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stjob import job_file
from stjob.api import SentenceTransformerJob, contract
from stjob.api.contract import TerminationMessage
from stjob.errors import EXIT_INTERRUPTED, EXIT_OK, QualityGateFailed, StjobError
from stjob_trainer.failures import classify
from stjob_trainer.library_noise import silence_library_noise
from stjob_trainer.local_run import fit_to_this_machine
from stjob_trainer.outcome import write_result, write_termination_message
from stjob_trainer.reporting import Reporter, reporter_from_env
from stjob_trainer.signals import StopFlag, TrainingInterrupted, install_sigterm_handler

logger = logging.getLogger("stjob_trainer")

DEFAULT_OUTPUT_DIR = Path(contract.OUTPUT_DIR)
DEFAULT_DATA_DIR = Path(contract.DATA_DIR)


def load_job(path: Path) -> SentenceTransformerJob:
    """Read and validate the job file (the resource); ConfigError naming each invalid field (stjob.job_file)."""
    return job_file.load_job(path)


def execute(
    config: Path,
    *,
    output_dir: Path,
    local: bool,
    data_dir: Path | None = None,
    reporter: Reporter | None = None,
    fresh: bool = False,
) -> int:
    """Run the job in ``config`` and return the exit code; never raises (except KeyboardInterrupt).

    ``local``: paths in the job resolve against the job file's folder and progress shows as a bar;
    otherwise the data volume is ``data_dir`` and progress goes to the resource's status.
    """
    from stjob_trainer.run import run_job  # torch and friends: only once we are really training

    flag = StopFlag()
    restore = install_sigterm_handler(flag)
    reporter = reporter or reporter_from_env(local=local)
    job: SentenceTransformerJob | None = None
    t0 = time.monotonic()
    try:
        job = load_job(config)
        if local:
            import torch

            job = fit_to_this_machine(job, cuda_available=torch.cuda.is_available())
        result = run_job(
            job,
            output_dir=output_dir,
            base_dir=config.resolve().parent if local else None,
            data_root=data_dir if job.spec.data.volume is not None else None,
            reporter=reporter,
            stop_flag=flag,
            print_logs=not local,
            fresh=fresh,
        )
        write_termination_message(
            TerminationMessage(outcome="Succeeded", model_path=str(result.model_path), hub_url=result.hub_url)
        )
        _print_summary(reporter, result.summary, result.model_path, result.metrics_path, time.monotonic() - t0)
        return EXIT_OK
    except TrainingInterrupted as exc:
        logger.warning("%s", exc)
        write_termination_message(
            TerminationMessage(outcome="Interrupted", reason="Interrupted", message=str(exc), checkpoint=exc.checkpoint)
        )
        return EXIT_INTERRUPTED
    except Exception as exc:
        error = classify(exc)
        # A library may quote the credentials in its error: the message goes to the pod's status and logs.
        message = redact_secrets(error.message)
        if type(error) is StjobError:  # unexpected: the traceback helps whoever debugs it
            logger.error("training failed: %s\n%s", message, redact_secrets(traceback.format_exc()))
        else:
            logger.error("%s: %s", error.reason, message)
        write_termination_message(TerminationMessage(outcome="Failed", reason=error.reason, message=message))
        if job is not None:
            run_dir = output_dir / job.spec.output.project_name
            report = error.evaluation if isinstance(error, QualityGateFailed) else None
            _write_failed_result(run_dir, error.reason, message, time.monotonic() - t0, evaluation=report)
        return error.exit_code
    finally:
        reporter.close()
        restore()


def redact_secrets(text: str) -> str:
    """Mask the Hub token (its exact value) and anything credential-shaped in text bound for logs or status."""
    return contract.redact(text, secrets=[os.environ.get(contract.ENV_HF_TOKEN, "")])


def _write_failed_result(
    run_dir: Path, reason: str, message: str, seconds: float, *, evaluation: dict[str, Any] | None = None
) -> None:
    if not run_dir.is_dir():
        return
    extra = {"evaluation": evaluation} if evaluation else {}
    try:
        write_result(
            run_dir,
            {"outcome": "Failed", "reason": reason, "message": message, **extra, "timings": {"seconds": seconds}},
        )
    except OSError as exc:
        logger.warning("cannot write result.json: %s", exc)


def _print_summary(
    reporter: Reporter, summary: dict[str, Any], model_path: Path, metrics_path: Path, seconds: float
) -> None:
    primary = summary.get("primaryMetric")
    lines = [f"model:   {model_path}", f"metrics: {metrics_path}"]
    if primary:
        before, best = summary.get("baseline"), summary.get("best")
        if isinstance(best, float):
            # A resumed run measured no baseline: it was measured (and logged) by the first run.
            start = f"{before:.4f} before → " if isinstance(before, float) else ""
            lines.append(f"{primary}: {start}{best:.4f} best")
    if summary.get("trainSamplesPerSecond"):
        # The same figure the progress lines showed (ReportingCallback), not a second measurement.
        lines.append(f"throughput: {summary['trainSamplesPerSecond']:.1f} samples/s")
    lines.append(f"wall time: {seconds:.0f} s")
    for line in lines:
        reporter.note(line)


def configure_logging(*, local: bool) -> None:
    """Our INFO lines; libraries only from WARNING on (transformers is chatty)."""
    logging.basicConfig(
        level=logging.WARNING,
        format="%(message)s" if local else "%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("stjob_trainer").setLevel(logging.INFO)
    # Per-file download/shard bars from the libraries clutter both a terminal and the pod log.
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as hf_logging

    hub_utils.disable_progress_bars()  # type: ignore[attr-defined]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    silence_library_noise()


def main(argv: Sequence[str] | None = None) -> None:
    """``stjob-trainer --config /etc/stjob/job.yaml``: exit 0 only when the model was trained and saved."""
    parser = argparse.ArgumentParser(prog="stjob-trainer", description="Run one SentenceTransformerJob.")
    parser.add_argument("--config", required=True, type=Path, help="the job file (the resource as YAML)")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"output root (default: ${contract.ENV_OUTPUT_DIR} or {contract.OUTPUT_DIR})",
    )
    args = parser.parse_args(argv)
    configure_logging(local=False)
    output_dir = args.output or Path(os.environ.get(contract.ENV_OUTPUT_DIR, str(DEFAULT_OUTPUT_DIR)))
    data_dir = Path(os.environ.get(contract.ENV_DATA_DIR, str(DEFAULT_DATA_DIR)))
    sys.exit(execute(args.config, output_dir=output_dir, local=False, data_dir=data_dir))


def train_local(config: Path, output_dir: Path, *, data_dir: Path | None = None, fresh: bool = False) -> int:
    """``stjob train FILE``: the same run on this machine; ``data_dir`` stands in for ``data.volume``;
    ``fresh`` deletes the run's checkpoints first (``--fresh``)."""
    configure_logging(local=True)
    return execute(config, output_dir=output_dir, local=True, data_dir=data_dir, fresh=fresh)


if __name__ == "__main__":
    main()
