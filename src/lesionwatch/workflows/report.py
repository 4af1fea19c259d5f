"""The report workflow: read a segment or follow-up output folder, draw its figures and write the report.

Writes into the folder (never touching the analysis files):
    report.html            self-contained page (figures embedded)
    report.pdf             the same, printed
    figures/*.png          overlay montage, orthogonal views, plots, QC panel
    figures/sweep.gif, .mp4  animation through the axial slices
    lesion_mask_seg.dcm, <study>/change_map_seg.dcm   DICOM Segmentation, when the FLAIR came from DICOM

`lesionwatch report OUT_DIR` runs this again on an existing folder.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lesionwatch.errors import InputFileNotFoundError, MissingDependencyError
from lesionwatch.io.atomic import write_atomically, write_text_atomically
from lesionwatch.io.dicom import list_series
from lesionwatch.io.dicom_seg import dicom_segmentation
from lesionwatch.io.nifti import read_labels, read_volume
from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.longitudinal.change import CHANGE_LABELS
from lesionwatch.preprocessing.reorientation import reorient_to_ras
from lesionwatch.reporting.animation import encode_gif, encode_mp4
from lesionwatch.reporting.document import Figure, ReportContent, Table, render_html, render_pdf
from lesionwatch.reporting.figures import (
    CHANGE_PALETTE,
    LOCATION_CODES,
    LOCATION_PALETTE,
    DisplayImage,
    animation_frames,
    change_pair,
    largest_lesion_centre,
    location_volume_plot,
    orthogonal_views,
    overlay_montage,
    qc_panel,
    timeline_plot,
)
from lesionwatch.workflows.layout import (
    BRAIN_MASK_NAME,
    CHANGE_MAP_NAME,
    CHANGE_TABLE_NAME,
    COMMON_DIR,
    FIGURES_DIR,
    FLAIR_NAME,
    LABELS_NAME,
    LESION_TABLE_NAME,
    MASK_NAME,
    PROVENANCE_NAME,
    REPORT_HTML_NAME,
    REPORT_PDF_NAME,
    SUMMARY_NAME,
    common_name,
    reading_figure_name,
    registered_name,
)

log = logging.getLogger(__name__)

DICOM_SEG_MASK = "lesion_mask_seg.dcm"
DICOM_SEG_CHANGE = "change_map_seg.dcm"
TABLE_COLUMNS = ("lesion_id", "volume_mm3", "location", "centroid_x_mm", "centroid_y_mm", "centroid_z_mm",
                 "max_diameter_mm", "flair_contrast_nawm_sd", "t1_black_hole", "mean_probability")


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise InputFileNotFoundError(f"{path}: not found; is {path.parent} a lesionwatch output folder?")
    return json.loads(path.read_text())


def _write_bytes(path: Path, data: bytes) -> None:
    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    write_atomically(path, write)


def location_overlay(labels: LabelVolume, rows: list[dict[str, Any]]) -> LabelVolume:
    """Lesion ids recoded as location classes (`reporting.figures.LOCATION_CODES`) from lesion-table rows."""
    lut = np.zeros(int(labels.array.max(initial=0)) + 1, np.uint8)
    for row in rows:
        if row["lesion_id"] < len(lut):
            lut[row["lesion_id"]] = LOCATION_CODES.get(row["location"], 4)
    return labels.with_array(lut[labels.array])


def _identifiers(provenance: dict[str, Any]) -> dict[str, str]:
    """BIDS subject/session and input file names: what the input carried, nothing more."""
    out: dict[str, str] = {}
    for name, item in provenance.get("inputs", {}).items():
        path = Path(item["path"])
        out[f"input {name}"] = path.name
        for part in path.parent.parts:  # folders only: BIDS file names start with "sub-" too
            if part.startswith("sub-"):
                out["subject"] = part
            if part.startswith("ses-") and not name.startswith(("study", "ses")):
                out["session"] = part
    return out


def _acquisition(flair: Volume, sequences: list[str]) -> dict[str, str]:
    sx, sy, sz = flair.spacing_mm
    return {"FLAIR voxel size": f"{sx:.2f} x {sy:.2f} x {sz:.2f} mm",
            "FLAIR grid": " x ".join(map(str, flair.shape)) + f" voxels, orientation {flair.orientation}",
            "sequences used": ", ".join(s.upper() for s in sequences)}


def _model(provenance: dict[str, Any]) -> dict[str, str]:
    model = provenance.get("model", {})
    return {k: str(v) for k, v in model.items() if v is not None}


def _provenance(provenance: dict[str, Any]) -> dict[str, str]:
    return {"lesionwatch": provenance.get("versions", {}).get("lesionwatch", "?"),
            "created": provenance.get("created", "?"), "command": provenance.get("command", "?"),
            "total time": f"{provenance.get('timings_s', {}).get('total', float('nan')):.0f} s"}


def study_figures(folder: Path, title: str, *, qc_only: bool = False
                  ) -> tuple[list[Figure], Volume, list[str], dict[str, Any]]:
    """Figures of one segmented study folder (only its QC panel with `qc_only`); also returns its FLAIR,
    sequences and summary."""
    flair = read_volume(folder / FLAIR_NAME)
    labels = read_labels(folder / LABELS_NAME)
    brain = read_labels(folder / BRAIN_MASK_NAME)
    table = _read_json(folder / f"{LESION_TABLE_NAME}.json")
    summary = _read_json(folder / SUMMARY_NAME)
    overlay = location_overlay(labels, table["rows"])
    display = DisplayImage.of(flair, overlay)
    others = sorted(p.name.split("_")[0] for p in folder.glob("*_space-native_desc-registered.nii.gz"))
    other = DisplayImage.of(read_volume(folder / registered_name(others[0]))) if others else None
    brain_display = DisplayImage.of(flair, brain).overlay > 0
    qc = Figure("Quality control: brain mask, registration, intensities",
                qc_panel(display, brain_display, other, others[0].upper() if others else "", summary["qc_warnings"]))
    if qc_only:
        return [qc], flair, ["flair", *others], summary
    centre = largest_lesion_centre(reorient_to_ras(labels.with_array(labels.array.astype(np.int32))).array)
    figures = [
        Figure(f"{title}: axial slices, lesions coloured by location (radiological view: patient's right on the "
               "left)", overlay_montage(display, LOCATION_PALETTE, f"{title}: lesions by location")),
        Figure("Axial, coronal and sagittal views through the largest lesion",
               orthogonal_views(display, LOCATION_PALETTE, centre, f"{title}: largest lesion")),
        Figure("Lesion volume by location class",
               location_volume_plot(summary["volume_mm3_by_location"], summary["count_by_location"])),
        qc,
    ]
    return figures, flair, ["flair", *others], summary


def _summary_lines(summary: dict[str, Any]) -> dict[str, str]:
    icv = summary.get("intracranial_volume_mm3")
    lines = {
        "lesions": str(summary["lesion_count"]),
        "total lesion volume": f"{summary['lesion_volume_mm3'] / 1000:.2f} ml",
        "by location (count / ml)": "; ".join(
            f"{k.replace('_', ' ')} {summary['count_by_location'][k]} / "
            f"{summary['volume_mm3_by_location'][k] / 1000:.2f}" for k in LOCATION_CODES),
        "McDonald brain regions involved": ", ".join(summary["dis_regions_involved"]) or "none",
        "brain volume": f"{summary['brain_volume_mm3'] / 1000:.0f} ml" if summary.get("brain_volume_mm3") else "n/a",
        "intracranial volume (template-based)": f"{icv / 1000:.0f} ml" if icv else "n/a",
        "lesion load / ICV": f"{summary['lesion_fraction_of_icv_percent']:.3f} %"
        if summary.get("lesion_fraction_of_icv_percent") is not None else "n/a",
    }
    return lines


def _lesion_table(rows: list[dict[str, Any]], title: str) -> Table:
    return Table(title, TABLE_COLUMNS, [[row.get(c) for c in TABLE_COLUMNS] for row in rows],
                 note="Coordinates: RAS+ world mm. Contrast: (lesion - NAWM mean) / NAWM SD on normalised images.")


def _animation(displays: list[DisplayImage], figures_dir: Path) -> list[Figure]:
    frames = animation_frames(displays, CHANGE_PALETTE if len(displays) > 1 else LOCATION_PALETTE, [])
    gif = encode_gif(frames)
    _write_bytes(figures_dir / "sweep.gif", gif)
    try:
        _write_bytes(figures_dir / "sweep.mp4", encode_mp4(frames))
    except Exception as exc:
        log.warning("MP4 animation not written: %s", exc)
    return [Figure("Animation through the axial slices (also sweep.mp4)", gif, "image/gif")]


def _write_dicom_seg(labels: LabelVolume, provenance: dict[str, Any], input_key: str, uid: str | None,
                     path: Path, segments: dict[int, str], description: str) -> None:
    """Write `labels` as a DICOM SEG over the FLAIR series it came from (when the FLAIR was DICOM)."""
    if not uid:
        return
    folder = Path(provenance["inputs"][input_key]["path"])
    series = next((s for s in list_series(folder) if s.uid == uid), None) if folder.is_dir() else None
    if series is None:
        log.warning("DICOM SEG not written: FLAIR series %s is no longer in %s", uid, folder)
        return
    version = provenance.get("versions", {}).get("lesionwatch", "0")
    try:
        dataset = dicom_segmentation(labels, [Path(f) for f in series.files], segments,
                                     series_description=description, software_version=version)
    except MissingDependencyError as exc:
        log.warning("%s; %s not written", exc, path.name)
        return
    def write(tmp: Path) -> None:
        dataset.save_as(str(tmp))

    write_atomically(path, write)


def build_report(folder: Path, shown_as: Path | None = None) -> Path:
    """Draw the figures and write report.html/report.pdf for a segment or follow-up folder; return the HTML path.
    `shown_as` is the folder's name in the log (a staged folder is logged under its final name).

    Raises:
        InputFileNotFoundError: the folder is not a lesionwatch output folder.
    """
    folder = Path(folder)
    start = time.perf_counter()
    provenance = _read_json(folder / PROVENANCE_NAME)
    figures_dir = folder / FIGURES_DIR
    figures_dir.mkdir(exist_ok=True)
    if provenance.get("command") == "followup":
        content = _followup_content(folder, provenance, figures_dir)
    else:
        figures, flair, sequences, summary = study_figures(folder, "Lesion segmentation")
        labels = read_labels(folder / LABELS_NAME)
        table = _read_json(folder / f"{LESION_TABLE_NAME}.json")
        figures += _animation([DisplayImage.of(flair, location_overlay(labels, table["rows"]))], figures_dir)
        mask = read_labels(folder / MASK_NAME)
        _write_dicom_seg(mask, provenance, "flair", provenance.get("dicom_series", {}).get("flair"),
                         folder / DICOM_SEG_MASK, {1: "MS lesion"}, "lesionwatch lesion mask")
        content = ReportContent(
            title="Lesion segmentation", identifiers=_identifiers(provenance),
            acquisition=_acquisition(flair, sequences), summary=_summary_lines(summary), figures=figures,
            tables=[_lesion_table(table["rows"], "Lesions")], warnings=summary["qc_warnings"],
            model=_model(provenance), provenance=_provenance(provenance))
    for index, fig in enumerate(content.figures):
        if fig.mime == "image/png":
            _write_bytes(figures_dir / f"{index + 1:02d}_{_slug(fig.caption)}.png", fig.data)
    page = render_html(content)
    write_text_atomically(folder / REPORT_HTML_NAME, page)
    try:
        _write_bytes(folder / REPORT_PDF_NAME, render_pdf(content))
    except MissingDependencyError as exc:  # the HTML page is the report; an older PDF would contradict it
        (folder / REPORT_PDF_NAME).unlink(missing_ok=True)
        log.warning("%s; %s not written", exc, REPORT_PDF_NAME)
    log.info("report written in %.1f s: %s", time.perf_counter() - start, (shown_as or folder) / REPORT_HTML_NAME)
    return folder / REPORT_HTML_NAME


def _slug(text: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    return "_".join(words[:4])


ACTIVE_CHANGES = ("new", "enlarging")
"""The change classes a follow-up is read for (disease activity), in the order the report shows them."""
MAX_READINGS = 60
"""Most side-by-side pictures of new and enlarging lesions drawn per report; the change table lists them all."""


@dataclass(frozen=True)
class ChangeReading:
    """One new or enlarging lesion of a follow-up, as the reading view shows it.

    Attributes:
        lesion_id: the id every study's lesion map and table share.
        before, after: the two studies (folder names), in time order.
        change: "new" or "enlarging".
        location: location class in the later study's lesion table.
        volume_before_mm3, volume_after_mm3: volumes in the common grid.
        figure: the crops' file name inside FIGURES_DIR (`layout.reading_figure_name`).
    """

    lesion_id: int
    before: str
    after: str
    change: str
    location: str
    volume_before_mm3: float
    volume_after_mm3: float
    figure: str

    @property
    def caption(self) -> str:
        return (f"Lesion {self.lesion_id}: {self.change}, {self.location.replace('_', ' ')}; {self.before} "
                f"{self.volume_before_mm3:.0f} mm3 -> {self.after} {self.volume_after_mm3:.0f} mm3")


def change_readings(folder: Path) -> list[ChangeReading]:
    """Every new and enlarging lesion of a follow-up folder, interval by interval: new ones first, then by how much
    lesion volume each gained, most first."""
    names: list[str] = _read_json(folder / SUMMARY_NAME)["studies"]
    rows = _read_json(folder / f"{CHANGE_TABLE_NAME}.json")["rows"]
    readings = []
    for before, after in itertools.pairwise(names):
        locations = {int(r["lesion_id"]): str(r["location"])
                     for r in _read_json(folder / after / f"{LESION_TABLE_NAME}.json")["rows"]}
        active = [r for r in rows if r[f"change_{before}_to_{after}"] in ACTIVE_CHANGES]
        active.sort(key=lambda r: (ACTIVE_CHANGES.index(r[f"change_{before}_to_{after}"]),
                                   -float(r[f"volume_mm3_{after}"]) + float(r[f"volume_mm3_{before}"])))
        for r in active:
            lesion = int(r["lesion_id"])
            readings.append(ChangeReading(lesion, before, after, r[f"change_{before}_to_{after}"],
                                          locations.get(lesion, "unknown"), float(r[f"volume_mm3_{before}"]),
                                          float(r[f"volume_mm3_{after}"]), reading_figure_name(after, lesion)))
    return readings


def activity_headline(intervals: list[dict[str, Any]]) -> str:
    """The follow-up at one glance: "2 new, 1 enlarging since study1" for each interval."""
    lines = []
    for interval in intervals:
        before = interval["interval"].split(" -> ")[0]
        new, enlarging = interval["new_count"], interval["enlarging_count"]
        if new or enlarging:
            lines.append(f"{new} new, {enlarging} enlarging since {before}")
        else:
            lines.append(f"no new or enlarging lesion since {before}")
    return "; ".join(lines)


def _reading_figures(folder: Path, readings: list[ChangeReading], figures_dir: Path,
                     images: dict[str, DisplayImage]) -> list[Figure]:
    """Draw the crops of each reading (the first MAX_READINGS) on the studies' common-space FLAIRs (`images`, by
    study) and write them into `figures_dir`."""
    common = folder / COMMON_DIR
    shown = readings[:MAX_READINGS]
    ids = {n: reorient_to_ras(read_labels(common / common_name("lesion_labels", n))).array
           for n in {r.before for r in shown} | {r.after for r in shown}}
    colours = {"new": CHANGE_PALETTE[2][1], "enlarging": CHANGE_PALETTE[3][1]}
    figures = []
    for r in shown:
        data = change_pair(images[r.before], images[r.after], ids[r.before] == r.lesion_id,
                           ids[r.after] == r.lesion_id, f"Lesion {r.lesion_id}: {r.change}", (r.before, r.after),
                           colours[r.change])
        _write_bytes(figures_dir / r.figure, data)
        figures.append(Figure(r.caption, data))
    return figures


def _followup_content(folder: Path, provenance: dict[str, Any], figures_dir: Path) -> ReportContent:
    summary = _read_json(folder / SUMMARY_NAME)
    change_table = _read_json(folder / f"{CHANGE_TABLE_NAME}.json")
    names: list[str] = summary["studies"]
    common = folder / COMMON_DIR
    displays = [DisplayImage.of(read_volume(common / common_name("flair", n)),
                                read_labels(common / common_name("change_map", n))) for n in names]
    last = displays[-1]
    figures = [Figure(f"{names[-1]}: lesions coloured by change since {names[-2]} (common space, radiological view)",
                      overlay_montage(last, CHANGE_PALETTE, f"Change {names[-2]} -> {names[-1]}"))]
    per_study = summary["per_study"]
    trajectories: dict[int, Sequence[float]] = {
        int(r["lesion_id"]): [float(r[f"volume_mm3_{n}"]) for n in names] for r in change_table["rows"]}
    figures.append(Figure("Lesion load over time and the largest lesions' volumes (common grid)", timeline_plot(
        names, [sum(t[i] for t in trajectories.values()) for i in range(len(names))],
        [sum(1 for t in trajectories.values() if t[i] > 0) for i in range(len(names))], trajectories)))
    warnings: list[str] = list(summary.get("qc_warnings", []))
    for name in names:
        uid = provenance.get("dicom_series", {}).get(name, {}).get("flair")
        change = read_labels(folder / name / CHANGE_MAP_NAME)
        _write_dicom_seg(change, provenance, f"{name}_flair", uid, folder / name / DICOM_SEG_CHANGE,
                         {code: label.split(":")[0][:60] if code != 4 else "enlarging lesion: new growth"
                          for code, label in CHANGE_LABELS.items()}, "lesionwatch lesion change map")
        study_figs, _, _, study_summary = study_figures(folder / name, name, qc_only=True)
        figures.append(Figure(f"{name}: quality control", study_figs[0].data))
        warnings += [f"{name}: {w}" for w in study_summary["qc_warnings"]]
    figures += _animation(displays, figures_dir)
    readings = change_readings(folder)
    reading_figures = _reading_figures(folder, readings, figures_dir, dict(zip(names, displays, strict=True)))
    lines: dict[str, str] = {"studies": " -> ".join(names), "common space": summary["common_space"]}
    for interval in summary["intervals"]:
        lines[interval["interval"]] = (
            f"{interval['new_count']} new, {interval['enlarging_count']} enlarging, "
            f"{interval['shrinking_count']} shrinking, {interval['resolved_count']} resolved, "
            f"{interval['stable_count']} stable; total volume {interval['volume_before_mm3'] / 1000:.2f} -> "
            f"{interval['volume_after_mm3'] / 1000:.2f} ml ({interval['volume_change_mm3']:+.0f} mm3)")
    for name in names:
        study = per_study[name]
        lines[f"{name} lesions"] = f"{study['lesion_count']} ({study['lesion_volume_mm3'] / 1000:.2f} ml)"
    columns = change_table["columns"]
    tables = [Table("Lesions across studies", columns, [[r.get(c) for c in columns] for r in change_table["rows"]],
                    note="Volumes in the common grid (mm3). Enlarging: volume x1.5 or more and +10 mm3; shrinking: "
                         "x0.67 or less and -10 mm3. Click a column heading to sort.")]
    first = read_volume(folder / names[0] / FLAIR_NAME)
    registered = sorted(p.name.split("_")[0] for p in (folder / names[0]).glob("*_space-native_desc-registered.nii.gz"))
    more = len(readings) - len(reading_figures)
    return ReportContent(
        title="Lesion follow-up", identifiers=_identifiers(provenance),
        acquisition=_acquisition(first, ["flair", *registered]), headline=activity_headline(summary["intervals"]),
        summary=lines, readings=reading_figures,
        readings_note=(f"{more} more new or enlarging lesions are listed in the table, not drawn." if more else ""),
        figures=figures, tables=tables, warnings=warnings, model=_model(provenance),
        provenance=_provenance(provenance))


def write_report_after_analysis(folder: Path, final: Path | None = None) -> Path | None:
    """Build the report of a finished analysis folder (`folder`, the staged folder that becomes `final`); a failure
    is logged and leaves the analysis untouched."""
    final = folder if final is None else final
    try:
        return build_report(folder, shown_as=final)
    except Exception as exc:
        log.error("the report could not be written (%s: %s); the analysis results in %s are complete. "
                  "Retry with: lesionwatch report %s", type(exc).__name__, exc, final, final)
        return None
