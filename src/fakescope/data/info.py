"""Dataset summaries: image counts per split x generator x label (``fakescope data info``)."""

from __future__ import annotations

import pandas as pd

from fakescope.data.schema import GENERATOR, LABEL, SPLIT, SPLITS

#: Marks the subtotal (per split) and grand-total rows of :func:`summarize`.
TOTAL = "TOTAL"
COUNT_COLUMNS: tuple[str, ...] = ("real", "fake", "total")


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Counts per split and generator: columns ``split, generator, real, fake, total``.

    Splits come in train/val/test order (others after, sorted), generators sorted;
    each split ends with a ``generator == TOTAL`` row, and a last row
    ``split == generator == TOTAL`` counts the whole table.
    """
    labels = table[LABEL].astype("int64")
    counts = (
        pd.DataFrame(
            {
                SPLIT: table[SPLIT].astype(str),
                GENERATOR: table[GENERATOR].astype(str),
                "real": (labels == 0).astype("int64"),
                "fake": (labels == 1).astype("int64"),
            }
        )
        .groupby([SPLIT, GENERATOR], sort=True)
        .sum()
        .reset_index()
    )
    counts["total"] = counts["real"] + counts["fake"]
    order = {s: i for i, s in enumerate(SPLITS)}
    splits = sorted(counts[SPLIT].unique(), key=lambda s: (order.get(s, len(order)), s))
    parts = []
    for s in splits:
        block = counts[counts[SPLIT] == s]
        parts.append(block)
        parts.append(_total_row(block, s))
    parts.append(_total_row(counts, TOTAL))
    out = pd.concat(parts, ignore_index=True)
    return out[[SPLIT, GENERATOR, *COUNT_COLUMNS]]


def _total_row(block: pd.DataFrame, split: str) -> pd.DataFrame:
    sums = {c: int(block[c].sum()) for c in COUNT_COLUMNS}
    return pd.DataFrame([{SPLIT: split, GENERATOR: TOTAL, **sums}])


def format_summary(table: pd.DataFrame) -> str:
    """A readable text table of :func:`summarize` (one block per split, then the total).

    Generators named "" (e.g. the reals of a class-folder layout) show as "-".
    """
    summary = summarize(table)
    n = int(summary["total"].iloc[-1])
    n_gen = len({g for g in table[GENERATOR].astype(str) if g})
    head = (
        f"{n} images: {int(summary['real'].iloc[-1])} real, {int(summary['fake'].iloc[-1])} fake; "
        f"{n_gen} generator(s)"
    )
    cells = [[SPLIT, GENERATOR, *COUNT_COLUMNS]]
    cells += [
        [str(r[SPLIT]), str(r[GENERATOR]) or "-", *(str(int(r[c])) for c in COUNT_COLUMNS)]
        for _, r in summary.iterrows()
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]

    def line(row: list[str]) -> str:
        text = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        text += [cell.rjust(w) for cell, w in zip(row[2:], widths[2:], strict=True)]
        return "  ".join(text).rstrip()

    rule = "-" * len(line(cells[0]))
    lines = [head, "", line(cells[0]), rule]
    for i, row in enumerate(cells[1:], start=2):
        lines.append(line(row))
        if row[1] == TOTAL and i < len(cells):
            lines.append(rule)
    return "\n".join(lines)
