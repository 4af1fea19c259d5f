"""What the result page of a finished job shows: its summary, the lesion or change table with each lesion's centre in
the viewers' space, the viewer volumes, the figures and, for a follow-up, the headline and the reading view."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from lesionwatch.io.nifti import read_labels
from lesionwatch.workflows.layout import (
    CHANGE_TABLE_NAME,
    COMMON_DIR,
    FIGURES_DIR,
    FLAIR_NAME,
    LESION_TABLE_NAME,
    SUMMARY_NAME,
    common_name,
)
from lesionwatch.workflows.report import activity_headline, change_readings


def lesion_centres_mm(label_files: list[Path]) -> dict[int, list[float]]:
    """Lesion id -> centre (RAS+ mm) over the union of label maps on one grid (the lesion ids they share)."""
    from scipy import ndimage

    maps = [read_labels(f) for f in label_files]
    union = np.maximum.reduce([m.array for m in maps])
    ids = [int(i) for i in np.unique(union) if i > 0]
    centres = ndimage.center_of_mass(union > 0, union, ids) if ids else []
    affine = maps[0].affine
    return {i: [round(float(c), 2) for c in (affine @ np.array([*centre, 1.0]))[:3]]
            for i, centre in zip(ids, centres, strict=True)}


def job_result(kind: str, result: Path, files: dict[str, Path]) -> dict[str, Any]:
    """What the result page shows of a finished job's `result` folder (`files`: its downloads by name): the
    summary, the lesion or change table with each lesion's centre in the viewers' space, the viewer volumes, the
    figures, and for a follow-up the headline and the reading view."""
    out: dict[str, Any] = {"kind": kind, "downloads": sorted(files),
                           "figures": [k for k in files if k.startswith(f"{FIGURES_DIR}/") and k.endswith(".png")]}
    out["summary"] = json.loads((result / SUMMARY_NAME).read_text())
    if kind == "segment":
        out["lesions"] = json.loads((result / f"{LESION_TABLE_NAME}.json").read_text())
        out["volumes"] = {"flair": FLAIR_NAME, "overlay": "location"}
        for row in out["lesions"]["rows"]:
            row["viewer_mm"] = [row["centroid_x_mm"], row["centroid_y_mm"], row["centroid_z_mm"]]
        return out
    names = out["summary"]["studies"]
    out["volumes"] = {"studies": [{"name": n, "flair": f"{COMMON_DIR}/{common_name('flair', n)}",
                                   "overlay": f"{COMMON_DIR}/{common_name('change_map', n)}"} for n in names]}
    # one numbering on the page: the change table's lesions (the ids every study shares), placed at their
    # centres in the common space the viewers show
    out["changes"] = json.loads((result / f"{CHANGE_TABLE_NAME}.json").read_text())
    centres = lesion_centres_mm([result / COMMON_DIR / common_name("lesion_labels", n) for n in names])
    for row in out["changes"]["rows"]:
        row["viewer_mm"] = centres.get(int(row["lesion_id"]), [0.0, 0.0, 0.0])
    out["headline"] = activity_headline(out["summary"]["intervals"])
    # the reading view: each new or enlarging lesion, with its side-by-side crops where the report drew them
    out["readings"] = [{**asdict(r), "caption": r.caption, "viewer_mm": centres.get(r.lesion_id, [0.0, 0.0, 0.0]),
                        "figure": f"{FIGURES_DIR}/{r.figure}" if f"{FIGURES_DIR}/{r.figure}" in files else None}
                       for r in change_readings(result)]
    drawn = {r["figure"] for r in out["readings"]}
    out["figures"] = [f for f in out["figures"] if f not in drawn]
    return out
