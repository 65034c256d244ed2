"""The ``stjob`` command line (also ``kubectl stjob``, by the kubectl plugin naming convention)."""

from __future__ import annotations

import json
import shutil
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from stjob.api import contract
from stjob.errors import (
    EXIT_CODES,
    EXIT_CONFIG_ERROR,
    EXIT_CTRL_C,
    EXIT_FAILED,
    EXIT_QUALITY_GATE,
    EXIT_TIMEOUT,
    StjobError,
    UsageError,
)

# A local run reads the pod's environment variables for the two volumes' mount points.
DATA_DIR_ENV = contract.ENV_DATA_DIR
OUTPUT_DIR_ENV = contract.ENV_OUTPUT_DIR


def _exit_code_table() -> str:
    # "\b" keeps click from re-wrapping the table into one paragraph.
    return "Exit codes (every command):\n\n\b\n" + "\n".join(f"{code:>5}  {meaning}" for code, meaning in EXIT_CODES)


app = typer.Typer(
    name="stjob",
    help="Fine-tune Sentence Transformers on Kubernetes: validate resources, print the CRD, train locally, "
    "follow jobs in a cluster. Results go to stdout, logs and progress to stderr.",
    epilog=_exit_code_table(),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: readable when piped, and no "<bool>" metavar on --help.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"stjob {version('stjob')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Options that apply before any command."""


def validate_document(doc: Any) -> list[str]:
    """Problems with one YAML document that should be a SentenceTransformerJob (empty list: valid)."""
    from stjob.job_file import document_problems

    return document_problems(doc)


@app.command()
def crd() -> None:
    """Print the SentenceTransformerJob CustomResourceDefinition (generated from the API models)."""
    from stjob.crd import render_crd

    sys.stdout.write(render_crd())


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="YAML files with SentenceTransformerJob resources.")],
    explain: Annotated[
        bool,
        typer.Option(
            "--explain", help="Also show the hyperparameters each valid job trains with: its recipe's or the spec's."
        ),
    ] = False,
) -> None:
    """Check resources offline; exits 3 with the field path and reason of each problem."""
    from stjob.job_file import read_job_file

    worst = 0
    for file in files:
        try:
            job_file = read_job_file(file)
        except StjobError as exc:  # one line per unreadable or unacceptable file, then the next file
            typer.echo(exc.message, err=True)
            worst = max(worst, exc.exit_code)
            continue
        for note in job_file.skipped:
            typer.echo(f"note: {note}", err=True)
        for document in job_file.jobs:
            problems = validate_document(document.data)
            for problem in problems:
                typer.echo(f"{file}: {document.label}: {problem}", err=True)
            if problems:
                worst = max(worst, EXIT_CONFIG_ERROR)
                continue
            typer.echo(f"{file}: {document.label}: valid")
            if explain:
                typer.echo("\n".join(_explain(document.data)))
            warning = _local_data_warning(document.data, file)
            if warning:
                typer.echo(f"warning: {file}: {document.label}: {warning}", err=True)
    if worst:
        raise typer.Exit(worst)


def _explain(data: dict[str, Any]) -> list[str]:
    from stjob.api import SentenceTransformerJob
    from stjob.api.recipes import explain

    return [f"  {line}" for line in explain(SentenceTransformerJob.model_validate(data).spec)]


def _local_data_warning(data: dict[str, Any], file: Path) -> str | None:
    from stjob.api import SentenceTransformerJob
    from stjob.job_file import local_data_warning

    return local_data_warning(SentenceTransformerJob.model_validate(data), file.resolve().parent)


class Format(str, Enum):
    """What ``-o`` prints on stdout."""

    json = "json"
    yaml = "yaml"


def _output_option(what: str) -> Any:
    return typer.Option("--output", "-o", metavar="json|yaml", help=f"Print {what} on stdout, as JSON or YAML.")


Namespace = Annotated[str, typer.Option("--namespace", "-n", metavar="NS", help="Namespace of the resource.")]
Context = Annotated[
    str | None, typer.Option("--context", metavar="NAME", help="kubeconfig context to use (default: the current one).")
]
JobName = Annotated[str, typer.Argument(metavar="NAME", help="SentenceTransformerJob name.", show_default=False)]


def _print_data(data: Any, fmt: Format | str) -> None:
    import json

    if Format(fmt) is Format.json:
        typer.echo(json.dumps(data, indent=2, sort_keys=False))
    else:
        typer.echo(yaml.safe_dump(data, sort_keys=False).rstrip())


def _fail(exc: StjobError) -> typer.Exit:
    typer.echo(f"error: {exc.message}", err=True)
    return typer.Exit(exc.exit_code)


@app.command()
def convert(
    config: Annotated[Path, typer.Argument(help="AutoTrain sentence-transformers config (YAML or JSON).")],
    output: Annotated[Format, _output_option("the resource")] = Format.yaml,
) -> None:
    """Turn an AutoTrain config into a SentenceTransformerJob; warns about each parameter without an equivalent."""
    from stjob.autotrain_import import RECOMMENDED_HINT, convert_autotrain_config
    from stjob.job_file import read_mapping

    try:
        loaded = read_mapping(config)
    except StjobError as exc:
        raise _fail(exc) from None
    try:
        resource, warnings = convert_autotrain_config(loaded)
    except StjobError as exc:  # another task, an unset ${VAR}, AutoTrain's processed data
        raise _fail(exc) from None
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"note: {RECOMMENDED_HINT}", err=True)
    _print_data(resource, output)
    problems = validate_document(resource)
    for problem in problems:
        typer.echo(f"invalid: {problem}", err=True)
    if problems:
        raise typer.Exit(EXIT_CONFIG_ERROR)


@app.command()
def plot(
    run_dir: Annotated[
        Path,
        typer.Argument(
            metavar="RUN_DIR", exists=True, help="Run folder (holding metrics.jsonl) or the metrics file itself."
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", metavar="PNG", help="PNG to write (default: RUN_DIR/metrics.png).")
    ] = None,
) -> None:
    """Plot a run's training loss and evaluation metrics to a PNG; prints its path."""
    from stjob.metrics_plot import plot_run

    if run_dir.is_dir() and not (run_dir / contract.METRICS_FILE).exists():
        raise _fail(UsageError(f"{run_dir}: no metrics.jsonl here; is it a run folder (OUTPUT_DIR/projectName)?"))
    try:
        typer.echo(str(plot_run(run_dir, out)))
    except StjobError as exc:
        raise _fail(exc) from None


@app.command()
def status(
    name: JobName,
    namespace: Namespace = "default",
    context: Context = None,
    output: Annotated[Format | None, _output_option("the whole resource (default: a summary)")] = None,
) -> None:
    """Show a job in the cluster: phase, progress, metrics, conditions."""
    from stjob.cluster_view import describe, get_job

    try:
        obj = get_job(name, namespace, context)
    except StjobError as exc:
        raise _fail(exc) from None
    if output:
        _print_data(obj, output)
    else:
        typer.echo(describe(obj))


@app.command()
def watch(
    name: JobName,
    namespace: Namespace = "default",
    context: Context = None,
    interval: Annotated[float, typer.Option(metavar="SECONDS", help="Seconds between polls.")] = 2.0,
    timeout: Annotated[
        float | None, typer.Option(metavar="SECONDS", help=f"Give up after this long (exit {EXIT_TIMEOUT}).")
    ] = None,
) -> None:
    """Follow a job until it ends: exit 0 on Succeeded, 1 on Failed."""
    from stjob.cluster_view import describe, get_job
    from stjob.cluster_view import watch as watch_job

    last: dict[str, Any] = {}
    try:
        for obj in watch_job(lambda: get_job(name, namespace, context), interval=interval, timeout=timeout):
            last = obj
            typer.echo(describe(obj) + "\n")
    except StjobError as exc:
        raise _fail(exc) from None
    phase = (last.get("status") or {}).get("phase")
    if phase == "Failed":
        raise typer.Exit(EXIT_FAILED)
    if phase != "Succeeded":
        typer.echo(f"error: {name} still {phase or 'without a phase'} after {timeout:g} s", err=True)
        raise typer.Exit(EXIT_TIMEOUT)


@app.command()
def logs(
    name: JobName,
    namespace: Namespace = "default",
    context: Context = None,
    tail: Annotated[int | None, typer.Option(metavar="N", help="Only the last N lines.")] = None,
) -> None:
    """Print the logs of the job's newest trainer pod."""
    from stjob.cluster_view import trainer_logs

    try:
        typer.echo(trainer_logs(name, namespace, context, tail).rstrip())
    except StjobError as exc:
        raise _fail(exc) from None


@app.command()
def ui(
    context: Context = None,
    namespace: Annotated[
        list[str] | None,
        typer.Option(
            "--namespace", "-n", metavar="NS", help="Only this namespace (repeatable; when you may not list all)."
        ),
    ] = None,
    port: Annotated[int, typer.Option(metavar="PORT", help="Port on 127.0.0.1.")] = 8765,
    runs_dir: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR", help="Where the cluster jobs' output folders are mounted here: curves from metrics.jsonl."
        ),
    ] = None,
    local_runs: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            exists=True,
            file_okay=False,
            help="No cluster: show the stjob train runs in DIR (its --output-dir), read-only.",
        ),
    ] = None,
) -> None:
    """Serve a web page of your jobs on 127.0.0.1, acting with your kubeconfig (your RBAC), or of local runs."""
    from stjob.ui.app import create_app, serve
    from stjob.ui.local_runs import LocalRunsSource
    from stjob.ui.source import JobSource, KubeSource

    source: JobSource
    if local_runs is not None:
        source, runs_dir = LocalRunsSource(local_runs), local_runs
    else:
        try:
            source = KubeSource(context, tuple(namespace or ()))
        except StjobError as exc:
            raise _fail(exc) from None
    typer.echo(f"stjob ui on http://127.0.0.1:{port}/ (Ctrl-C stops it)", err=True)
    serve(create_app(source, runs_dir=runs_dir), port)


@app.command()
def train(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="YAML file with one SentenceTransformerJob (local paths in it are relative to it)."
        ),
    ],
    output_dir: Annotated[
        Path,
        typer.Option(
            "--output-dir",
            envvar=OUTPUT_DIR_ENV,
            metavar="DIR",
            file_okay=False,
            help="Where the run folder DIR/projectName goes (stands in for output.volume).",
        ),
    ] = Path("runs"),
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar=DATA_DIR_ENV,
            metavar="DIR",
            exists=True,
            file_okay=False,
            help="The folder standing in for data.volume: data.path is read relative to it. Needed when the "
            "job has data.volume; ignored otherwise.",
        ),
    ] = None,
    output: Annotated[Format | None, _output_option("the run's result.json (default: only the model path)")] = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Delete the run folder's checkpoints and metrics first and train from scratch. Without it a "
            "run resumes only from checkpoints trained from the same spec and data, and stops otherwise.",
        ),
    ] = False,
) -> None:
    """Train on this machine (CPU or a local GPU) with the trainer the cluster runs.

    Prints the trained model's path on stdout (or, with -o, the run's result); progress and logs go to
    stderr: a bar on a terminal, a plain line every few seconds otherwise. Running it again resumes from
    the newest checkpoint. A run that fails before its first checkpoint leaves no folder behind.
    """
    from stjob.job_file import load_job

    try:
        job = load_job(file)  # a bad file fails here, before torch is imported
    except StjobError as exc:
        raise _fail(exc) from None
    data_dir = _local_data_dir(job, data_dir)
    try:
        # Lazy: torch and sentence-transformers are the trainer extra, and slow to import.
        from stjob_trainer.checkpoints import find_resume_checkpoint
        from stjob_trainer.entrypoint import train_local
    except ImportError as exc:
        typer.echo(f"stjob train needs the trainer extra (pip install 'stjob[trainer]'): {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG_ERROR) from None
    run = contract.RunLayout.of(output_dir, job.spec.output.project_name)
    created = _first_missing(run.root)
    code = train_local(file, output_dir, data_dir=data_dir, fresh=fresh)
    if code == EXIT_QUALITY_GATE:  # a trained model that missed the gate: keep it, show why
        if run.result.is_file():
            _print_evaluation(json.loads(run.result.read_text(encoding="utf-8")))
        raise typer.Exit(code)
    if code:
        if created is not None and find_resume_checkpoint(run.checkpoints) is None:
            # Nothing to resume from: don't leave an empty or half-written run folder behind.
            shutil.rmtree(created, ignore_errors=True)
        raise typer.Exit(code)
    result = json.loads(run.result.read_text(encoding="utf-8"))
    _print_evaluation(result)
    if output:
        _print_data(result, output)
    else:
        typer.echo(result["modelPath"])


def _print_evaluation(result: dict[str, Any]) -> None:
    """The run's evaluation report on stderr (stdout stays the model path or the -o result)."""
    report = result.get("evaluation") or {}
    primary, metrics = report.get("primaryMetric"), report.get("metrics") or {}
    if not metrics:
        return
    typer.echo(f"{'metric':<28} {'base model':>10} {'fine-tuned':>10} {'delta':>9}", err=True)
    for name in sorted(metrics, key=lambda n: n != primary):  # the primary metric first
        row = metrics[name]
        cells = [
            f"{v:{sign}.4f}" if isinstance(v, (int, float)) else "-"
            for v, sign in ((row.get("baseline"), ""), (row.get("final"), ""), (row.get("delta"), "+"))
        ]
        marker = "*" if name == primary else " "
        typer.echo(f"{marker}{name:<27} {cells[0]:>10} {cells[1]:>10} {cells[2]:>9}", err=True)


def _local_data_dir(job: Any, data_dir: Path | None) -> Path | None:
    """The folder for ``data.volume`` (UsageError when the job needs one and none was given)."""
    volume = job.spec.data.volume
    if volume is None:
        if data_dir is not None:
            typer.echo(
                f"warning: --data-dir/{DATA_DIR_ENV} ignored: the job has no data.volume, "
                "so data.path is read relative to the job file",
                err=True,
            )
        return None
    if data_dir is None:
        raise _fail(
            UsageError(
                f"data.volume is set (claim {volume.claim_name!r}): pass --data-dir DIR, a local folder standing "
                f"in for that volume (data.path {job.spec.data.path!r} is read relative to it), or set {DATA_DIR_ENV}"
            )
        )
    return data_dir


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` that does not exist yet (None: it all exists)."""
    missing = None
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(EXIT_CTRL_C)


if __name__ == "__main__":
    main()
