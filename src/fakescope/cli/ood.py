"""``fakescope ood``: out-of-distribution detection (``benchmark``: the CIFAR-10 OOD benchmark)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fakescope.cli.common import cli_errors, out

app = typer.Typer(help="Out-of-distribution detection.", no_args_is_help=True)


@app.command("benchmark")
def benchmark(
    id_source: Annotated[
        Path,
        typer.Option(
            "--id", help="ID images: folder or .zip with train/<class>/ and test/<class>/."
        ),
    ],
    ood: Annotated[
        list[str],
        typer.Option(
            "--ood", help="An OOD set NAME=PATH (folder, .zip, or zip/sub/folder); repeatable."
        ),
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (model, cache, reports).")
    ],
    preset: Annotated[
        str, typer.Option("--preset", help="small (<= 20 min on 2 cores) or full.")
    ] = "small",
    synthetic: Annotated[
        bool,
        typer.Option(
            "--synthetic/--no-synthetic", help="Add synthetic outliers from ID test images."
        ),
    ] = True,
    seed: Annotated[int, typer.Option("--seed", help="Subsampling seed.")] = 0,
    page: Annotated[
        Path | None,
        typer.Option("--page", help="Also write the results page (e.g. docs/ood.md)."),
    ] = None,
) -> None:
    """Train (or load) a CIFAR-10 classifier, fit every OOD scorer, score each OOD set."""
    with cli_errors():
        from fakescope.ood.benchmark import parse_ood, run_benchmark
        from fakescope.ood.report import write_ood_report

        result = run_benchmark(
            id_source,
            parse_ood(ood),
            out_dir,
            preset=preset,
            synthetic=synthetic,
            seed=seed,
            log=out.print,
        )
        write_ood_report(result, out_dir)
        if page is not None:
            from fakescope.ood.page import write_page

            write_page(out_dir, page, by_benchmark=True)
            out.print(f"wrote {page}")
        out.print(f"ID accuracy {100 * result.id_accuracy:.2f}%; report in {out_dir / 'report.md'}")
        for row in result.rows:
            out.print(
                f"{row['scorer']:>12} {row['ood_set']:>14}  AUROC {100 * row['auroc']:6.2f}  FPR95 {100 * row['fpr95']:6.2f}"
            )


@app.command("page")
def page_command(
    report_dir: Annotated[
        Path, typer.Argument(help="A folder written by 'fakescope ood benchmark'.")
    ],
    page: Annotated[Path, typer.Option("--page", help="The Markdown page to write.")] = Path(
        "docs/ood.md"
    ),
) -> None:
    """Render a benchmark folder's report.json as the results page (default docs/ood.md)."""
    with cli_errors():
        from fakescope.ood.page import write_page

        out.print(f"wrote {write_page(report_dir, page)}")
