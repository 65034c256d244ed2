"""The ``stjob`` command line (also ``kubectl stjob``, by the kubectl plugin naming convention)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError

from stjob.errors import EXIT_CONFIG_ERROR, EXIT_USAGE, StjobError, format_validation_error

app = typer.Typer(
    name="stjob",
    help="Fine-tune Sentence Transformers on Kubernetes: validate resources, print the CRD, train locally.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def validate_document(doc: Any) -> list[str]:
    """Problems with one YAML document that should be a SentenceTransformerJob (empty list: valid)."""
    from stjob.api import SentenceTransformerJob

    if not isinstance(doc, dict):
        return ["document is not a mapping"]
    try:
        SentenceTransformerJob.model_validate(doc)
    except ValidationError as exc:
        return format_validation_error(exc)
    return []


@app.command()
def crd() -> None:
    """Print the SentenceTransformerJob CustomResourceDefinition (generated from the API models)."""
    from stjob.crd import render_crd

    sys.stdout.write(render_crd())


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="YAML files with SentenceTransformerJob resources.")],
) -> None:
    """Check resources offline; exits 3 with the field path and reason of each problem."""
    bad = 0
    for file in files:
        try:
            docs = [d for d in yaml.safe_load_all(file.read_text(encoding="utf-8")) if d is not None]
        except (OSError, yaml.YAMLError) as exc:
            typer.echo(f"{file}: cannot read: {exc}", err=True)
            raise typer.Exit(EXIT_USAGE) from None
        for index, doc in enumerate(docs):
            name = doc.get("metadata", {}).get("name", f"#{index}") if isinstance(doc, dict) else f"#{index}"
            problems = validate_document(doc)
            if problems:
                bad += 1
                for problem in problems:
                    typer.echo(f"{file}: {name}: {problem}", err=True)
            else:
                typer.echo(f"{file}: {name}: valid")
    if bad:
        raise typer.Exit(EXIT_CONFIG_ERROR)


OutputFormat = Annotated[str | None, typer.Option("--output", "-o", help="Print data instead: json or yaml.")]
Namespace = Annotated[str, typer.Option("--namespace", "-n", help="Namespace of the resource.")]
Context = Annotated[str | None, typer.Option("--context", help="kubeconfig context (default: current).")]


def _print_data(data: Any, fmt: str) -> None:
    import json

    if fmt == "json":
        typer.echo(json.dumps(data, indent=2, sort_keys=False))
    elif fmt == "yaml":
        typer.echo(yaml.safe_dump(data, sort_keys=False).rstrip())
    else:
        typer.echo(f"unknown output format {fmt!r}: use json or yaml", err=True)
        raise typer.Exit(EXIT_USAGE)


def _fail(exc: StjobError) -> typer.Exit:
    typer.echo(f"error: {exc.message}", err=True)
    return typer.Exit(exc.exit_code)


@app.command()
def convert(
    config: Annotated[Path, typer.Argument(help="AutoTrain sentence-transformers config (YAML or JSON).")],
    output: OutputFormat = "yaml",
) -> None:
    """Turn an AutoTrain config into a SentenceTransformerJob; warns about each parameter without an equivalent."""
    from stjob.autotrain_import import convert_autotrain_config

    try:
        loaded = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        typer.echo(f"{config}: cannot read: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    if not isinstance(loaded, dict):
        typer.echo(f"{config}: not a mapping", err=True)
        raise typer.Exit(EXIT_USAGE)
    resource, warnings = convert_autotrain_config(loaded)
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)
    _print_data(resource, output or "yaml")
    problems = validate_document(resource)
    for problem in problems:
        typer.echo(f"invalid: {problem}", err=True)
    if problems:
        raise typer.Exit(EXIT_CONFIG_ERROR)


@app.command()
def plot(
    run_dir: Annotated[Path, typer.Argument(help="Run folder (holding metrics.jsonl) or the metrics file.")],
    out: Annotated[Path | None, typer.Option("--out", help="PNG to write (default: RUN_DIR/metrics.png).")] = None,
) -> None:
    """Plot training loss and evaluation metrics of a run to a PNG."""
    from stjob.metrics_plot import plot_run

    try:
        typer.echo(str(plot_run(run_dir, out)))
    except StjobError as exc:
        raise _fail(exc) from None


@app.command()
def status(
    name: Annotated[str, typer.Argument(help="SentenceTransformerJob name.")],
    namespace: Namespace = "default",
    context: Context = None,
    output: OutputFormat = None,
) -> None:
    """Show a job in the current cluster: phase, progress, metrics, conditions."""
    from stjob.cluster_view import describe, get_job

    try:
        obj = get_job(name, namespace, context)
    except StjobError as exc:
        raise _fail(exc) from None
    if output:
        _print_data(obj.get("status") or {}, output)
    else:
        typer.echo(describe(obj))


@app.command()
def watch(
    name: Annotated[str, typer.Argument(help="SentenceTransformerJob name.")],
    namespace: Namespace = "default",
    context: Context = None,
    interval: Annotated[float, typer.Option(help="Seconds between polls.")] = 2.0,
    timeout: Annotated[float | None, typer.Option(help="Give up after this many seconds.")] = None,
) -> None:
    """Follow a job until it succeeds or fails; exits 0 on Succeeded, 1 on Failed."""
    from stjob.cluster_view import describe, get_job
    from stjob.cluster_view import watch as watch_job

    last: dict[str, Any] = {}
    try:
        for obj in watch_job(lambda: get_job(name, namespace, context), interval=interval, timeout=timeout):
            last = obj
            typer.echo(describe(obj) + "\n")
    except StjobError as exc:
        raise _fail(exc) from None
    if (last.get("status") or {}).get("phase") == "Failed":
        raise typer.Exit(1)


@app.command()
def logs(
    name: Annotated[str, typer.Argument(help="SentenceTransformerJob name.")],
    namespace: Namespace = "default",
    context: Context = None,
    tail: Annotated[int | None, typer.Option(help="Only the last N lines.")] = None,
) -> None:
    """Print the logs of the job's newest trainer pod."""
    from stjob.cluster_view import trainer_logs

    try:
        typer.echo(trainer_logs(name, namespace, context, tail).rstrip())
    except StjobError as exc:
        raise _fail(exc) from None


@app.command()
def train(
    file: Annotated[Path, typer.Argument(help="YAML file with one SentenceTransformerJob; paths relative to it.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output root; the run folder is OUTPUT/projectName.")
    ] = Path("runs"),
) -> None:
    """Train locally (CPU or a local GPU) with the trainer the cluster runs; exits like the trainer does."""
    try:
        # Lazy: torch and sentence-transformers are the trainer extra, and slow to import.
        from stjob_trainer.entrypoint import train_local
    except ImportError as exc:
        typer.echo(f"stjob train needs the trainer extra (pip install 'stjob[trainer]'): {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG_ERROR) from None
    code = train_local(file, output)
    if code:
        raise typer.Exit(code)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
