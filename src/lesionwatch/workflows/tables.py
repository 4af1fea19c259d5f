"""Writing tables: CSV (one header row, empty cell for a missing value) and JSON (a list of records)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from lesionwatch.io.atomic import write_json_atomically, write_text_atomically
from lesionwatch.lesions.table import LesionTable
from lesionwatch.workflows.layout import LESION_TABLE_NAME


def csv_text(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    """CSV of `rows` with exactly `columns` (missing values and None as empty cells)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    return buffer.getvalue()


def write_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], folder: Path, stem: str) -> dict[str, str]:
    """Write `stem`.csv and `stem`.json into `folder` atomically; return file name -> description."""
    write_text_atomically(folder / f"{stem}.csv", csv_text(rows, columns))
    write_json_atomically(folder / f"{stem}.json", {"columns": list(columns), "rows": list(rows)})
    return {f"{stem}.csv": "table (CSV)", f"{stem}.json": "table (JSON records)"}


def write_lesion_table(table: LesionTable, folder: Path) -> dict[str, str]:
    """Write the lesion table as CSV and JSON; an empty table still has its header."""
    return write_table(table.rows, table.columns, folder, LESION_TABLE_NAME)
