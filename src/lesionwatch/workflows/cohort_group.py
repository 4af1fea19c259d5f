"""The cohort workflow's group level: one table each of the sessions, the lesions and the follow-up intervals of a
participant-level derivatives folder (`workflows.cohort`), as CSV and Parquet, and the cohort plot, under `group/`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lesionwatch.errors import ConfigError, MissingDependencyError
from lesionwatch.io.atomic import write_atomically
from lesionwatch.workflows.layout import (
    GROUP_DIR,
    LESION_TABLE_NAME,
    PROVENANCE_NAME,
    SUMMARY_NAME,
    TASK_FILE,
)

SESSION_COLUMNS = (
    "subject", "session", "status", "lesion_count", "lesion_volume_mm3",
    "periventricular_count", "juxtacortical_count", "infratentorial_count", "white_matter_count",
    "periventricular_volume_mm3", "juxtacortical_volume_mm3", "infratentorial_volume_mm3", "white_matter_volume_mm3",
    "dis_regions_involved", "brain_volume_mm3", "intracranial_volume_mm3", "lesion_fraction_of_icv_percent",
    "qc_warning_count", "qc_warnings", "model", "analysis", "error",
)
INTERVAL_COLUMNS = ("subject", "interval", "new_count", "enlarging_count", "shrinking_count", "resolved_count",
                    "stable_count", "merged_count", "split_count", "volume_before_mm3", "volume_after_mm3",
                    "volume_change_mm3", "new_and_growth_volume_mm3")


def _session_row(subject: str, session: str, summary: dict[str, Any], record: dict[str, Any], analysis: str,
                 model: str) -> dict[str, Any]:
    row: dict[str, Any] = {"subject": subject, "session": session, "status": record["status"],
                           "model": model, "analysis": analysis}
    for key in ("lesion_count", "lesion_volume_mm3", "brain_volume_mm3", "intracranial_volume_mm3",
                "lesion_fraction_of_icv_percent"):
        row[key] = summary.get(key)
    for location, count in summary.get("count_by_location", {}).items():
        row[f"{location}_count"] = count
    for location, volume in summary.get("volume_mm3_by_location", {}).items():
        row[f"{location}_volume_mm3"] = volume
    row["dis_regions_involved"] = ";".join(summary.get("dis_regions_involved", []))
    warnings = summary.get("qc_warnings", [])
    row["qc_warning_count"] = len(warnings)
    row["qc_warnings"] = " | ".join(warnings)
    return row


def collect_group(out_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Cohort tables from the participant outputs: sessions, lesions, intervals (failed tasks as session rows)."""
    out_dir = Path(out_dir)
    sessions: list[dict[str, Any]] = []
    lesions: list[dict[str, Any]] = []
    intervals: list[dict[str, Any]] = []
    for record_path in sorted(out_dir.glob(f"sub-*/**/{TASK_FILE}")):
        record = json.loads(record_path.read_text())
        folder = record_path.parent
        subject = str(record.get("subject", folder.parts[len(out_dir.parts)].removeprefix("sub-")))
        labels = record.get("sessions", [""])
        if record.get("status") != "done":
            for session in labels:
                sessions.append({"subject": subject, "session": session, "status": "failed",
                                 "error": record.get("error", "unknown error")})
            continue
        for session, error in record.get("failed_sessions", {}).items():
            sessions.append({"subject": subject, "session": session, "status": "failed", "error": error})
        provenance = json.loads((folder / PROVENANCE_NAME).read_text())
        model = f"{provenance.get('model', {}).get('name')} {provenance.get('model', {}).get('version')}"
        followup = len(labels) > 1
        for session in labels:
            result = folder / f"ses-{session}" if followup else folder
            summary = json.loads((result / SUMMARY_NAME).read_text())
            sessions.append(_session_row(subject, session, summary, record, "followup" if followup else "segment",
                                         model))
            table = json.loads((result / f"{LESION_TABLE_NAME}.json").read_text())
            for row in table["rows"]:
                lesions.append({"subject": subject, "session": session, **row})
        if followup:
            summary = json.loads((folder / SUMMARY_NAME).read_text())
            for interval in summary["intervals"]:
                intervals.append({"subject": subject, **interval})
    return {"sessions": sessions, "lesions": lesions, "intervals": intervals}


def _write_parquet(rows: list[dict[str, Any]], columns: tuple[str, ...], path: Path) -> None:
    import pyarrow as pa  # run_group checked it is there
    import pyarrow.parquet as pq

    table = pa.table({c: [r.get(c) for r in rows] for c in columns})

    def write(tmp: Path) -> None:
        pq.write_table(table, tmp)

    write_atomically(path, write)


def run_group(out_dir: Path) -> dict[str, Path]:
    """Group level: write the cohort tables (CSV + Parquet) and plots into OUT_DIR/group; return what was written.

    Raises:
        ConfigError: OUT_DIR holds no participant-level results.
    """
    from lesionwatch.lesions.table import LESION_COLUMNS
    from lesionwatch.reporting.cohort import cohort_plot
    from lesionwatch.workflows.tables import write_table

    try:  # before any table is written
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError.for_extra("cohort", "the cohort's Parquet tables") from exc
    out_dir = Path(out_dir)
    tables = collect_group(out_dir)
    if not tables["sessions"]:
        raise ConfigError(f"{out_dir}: no participant-level results found; run the participant level first.")
    group = out_dir / GROUP_DIR
    group.mkdir(exist_ok=True)
    columns = {"sessions": SESSION_COLUMNS, "lesions": ("subject", "session", *LESION_COLUMNS),
               "intervals": INTERVAL_COLUMNS}
    written = {}
    for name, rows in tables.items():
        write_table(rows, columns[name], group, name)
        _write_parquet(rows, columns[name], group / f"{name}.parquet")
        written[name] = group / f"{name}.csv"
    done = [r for r in tables["sessions"] if r["status"] == "done"]
    plot = cohort_plot([f"{r['subject']}/{r['session']}" if r["session"] else r["subject"] for r in done],
                       [float(r["lesion_volume_mm3"] or 0) for r in done],
                       [int(r["lesion_count"] or 0) for r in done])

    def write_plot(tmp: Path) -> None:
        tmp.write_bytes(plot)

    write_atomically(group / "lesion_load.png", write_plot)
    written["plot"] = group / "lesion_load.png"
    return written
