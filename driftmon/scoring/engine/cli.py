"""`driftmon models …`: manage the OCR weights (registered by driftmon/cli/commands.py as `models`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="OCR model weights.", no_args_is_help=True)


@app.callback()
def _models() -> None:
    """OCR model weights (EasyOCR's craft_mlt_25k and english_g2)."""


@app.command("export")
def export(
    fp16: Annotated[
        Path,
        typer.Option("--fp16", help="Write fp16 copies and their SHA256SUMS to this directory."),
    ],
    model_dir: Annotated[
        Path | None,
        typer.Option(help="Read EasyOCR's fp32 weights from here (default: the offline package)."),
    ] = None,
) -> None:
    """Write half-size fp16 copies of the OCR weights (about 49 MB instead of 98 MB).

    The source files are MD5-checked against EasyOCR's published sums first. The batched engine
    (`scoring.engine: batched`) loads the copies from `scoring.model_dir` and checks them
    against the SHA256SUMS written beside them.
    """
    from driftmon.errors import DriftmonError
    from driftmon.scoring.engine.weights import export_fp16, read_manifest
    from driftmon.scoring.ocr import default_model_dir

    try:
        written = export_fp16(model_dir or default_model_dir(), fp16)
    except DriftmonError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    manifest = written[-1]
    for name, digest in read_manifest(manifest).items():
        size = (fp16 / name).stat().st_size / 1e6
        typer.echo(f"{digest}  {name}  ({size:.1f} MB)")
    typer.echo(f"wrote {manifest}")


if __name__ == "__main__":  # pragma: no cover - `python -m driftmon.scoring.engine.cli`
    app()
