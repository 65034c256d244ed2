"""The ``stjob`` command line (also ``kubectl stjob``, by the kubectl plugin naming convention)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError

from stjob.errors import EXIT_CONFIG_ERROR, EXIT_USAGE

app = typer.Typer(
    name="stjob",
    help="Fine-tune Sentence Transformers on Kubernetes: validate resources, print the CRD, train locally.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def format_validation_error(error: ValidationError, prefix: str = "") -> list[str]:
    """One line per problem: the field path in the user's (camelCase) words, then the reason."""
    lines = []
    for err in error.errors():
        loc = ".".join(str(part) for part in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        path = f"{prefix}.{loc}" if prefix and loc else (loc or prefix)
        lines.append(f"{path}: {msg}" if path else msg)
    return lines


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


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
