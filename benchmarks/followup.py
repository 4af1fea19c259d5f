"""Run `lesionwatch followup` on the longitudinal cases of ../shared/data and score the change detection.

Usage:
    python benchmarks/followup.py [--out benchmarks/results/followup] [--cases lesjak_patient01 ...]
                                  [-- EXTRA FOLLOWUP ARGS]

Cases:
- lesjak_long/patient01, patient03: raw 2D FLAIR (+T1 where both studies have one). Truth: the expert lesion
  change mask (new and enlarged lesion tissue) in the patient's common space; our study-2 change map (labels 2 and
  4: new lesions and growth of enlarging lesions) is carried there with the expert's study-2 transform. The
  registration is scored against the expert transforms: mean displacement (mm) of study-1 brain points between
  our study1->study2 mapping and the expert's.
- mslesseg/P14 T1 -> T2 -> T3: per-time-point expert masks on one MNI grid. Truth change per interval: lesions of
  the later mask that touch no lesion of the earlier one (new), plus the growth voxels of lesions whose volume
  rose by half or more (enlarging, the rule lesionwatch uses). P14 was in the default model's TRAINING set, so
  its figures are not held-out accuracy; lesjak_long was never trained on.

Metrics (lesionwatch.lesions.metrics.evaluate_change): lesion-wise TPR / F1 of change regions, change Dice.
Prints a Markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from harness import lesionwatch_command, run_timed
from lesionwatch.io.itk import ras_matrix_from_itk
from lesionwatch.io.nifti import read_labels
from lesionwatch.io.volume import LabelVolume
from lesionwatch.lesions.components import label_lesions
from lesionwatch.lesions.metrics import evaluate_change
from lesionwatch.longitudinal.change import ACTIVITY_LABELS
from lesionwatch.paths import shared_data_dir
from lesionwatch.preprocessing.registration import mean_displacement_mm
from lesionwatch.preprocessing.resampling import Grid, resample
from lesionwatch.workflows.layout import BRAIN_MASK_NAME, CHANGE_MAP_NAME


def followup_cmd(flairs: list[Path], t1s: list[Path], out: Path, extra: list[str]) -> list[str]:
    cmd = lesionwatch_command("--force", "followup", "--out", str(out))
    for f in flairs:
        cmd += ["--flair", str(f)]
    for t in t1s:
        cmd += ["--t1", str(t)]
    return [*cmd, *extra]


def lesjak(folder: Path, out: Path, extra: list[str]) -> dict[str, object]:
    flairs = [folder / f"study{i}_FLAIR.nii.gz" for i in (1, 2)]
    t1s = [folder / f"study{i}_T1W.nii.gz" for i in (1, 2)]
    t1s = t1s if all(t.is_file() for t in t1s) else []
    wall, peak = run_timed(followup_cmd(flairs, t1s, out, extra), folder.name)
    truth = read_labels(folder / "gt.nii.gz")
    expert = [ras_matrix_from_itk(sitk.ReadTransform(str(folder / f"study{i}_FLAIR_to_common_space.txt")))
              for i in (1, 2)]  # expert common point -> study point
    change = read_labels(out / "study2" / CHANGE_MAP_NAME)
    activity = change.with_array(np.isin(change.array, ACTIVITY_LABELS).astype(np.uint8))
    in_truth_space = resample(activity, Grid.of(truth), world_transform=expert[1])
    metrics = evaluate_change(in_truth_space, truth).as_dict()
    transforms = json.loads((out / "transforms.json").read_text())["common_to_study_ras"]
    ours = np.array(transforms["study2"]) @ np.linalg.inv(np.array(transforms["study1"]))
    theirs = expert[1] @ np.linalg.inv(expert[0])
    brain = read_labels(out / "study1" / BRAIN_MASK_NAME)
    idx = np.argwhere(brain.mask)[::50]
    points = idx @ brain.affine[:3, :3].T + brain.affine[:3, 3]
    metrics["registration_error_mm"] = mean_displacement_mm(ours, theirs, points)
    return {**metrics, "wall_s": wall, "peak_mb": peak, "t1": bool(t1s)}


def _truth_change(before: LabelVolume, after: LabelVolume) -> LabelVolume:
    ids, n = label_lesions(after.mask)
    out = np.zeros(after.shape, bool)
    for lesion in range(1, n + 1):
        now = ids == lesion
        old = int((now & before.mask).sum())
        if old == 0:
            out |= now
        elif now.sum() >= 1.5 * old and (now.sum() - old) * after.voxel_volume_mm3 >= 10:
            out |= now & ~before.mask
    return after.with_array(out.astype(np.uint8))


def mslesseg_p14(folder: Path, out: Path, extra: list[str]) -> list[dict[str, object]]:
    points = ("T1", "T2", "T3")
    flairs = [folder / t / f"P14_{t}_FLAIR.nii.gz" for t in points]
    t1s = [folder / t / f"P14_{t}_T1.nii.gz" for t in points]
    wall, peak = run_timed(followup_cmd(flairs, t1s, out, [*extra, "--label", "T1", "--label", "T2", "--label", "T3"]),
                           str(folder))
    masks = [read_labels(folder / t / f"P14_{t}_MASK.nii.gz") for t in points]
    rows = []
    for k in (1, 2):
        change = read_labels(out / points[k] / CHANGE_MAP_NAME)
        pred = change.with_array(np.isin(change.array, ACTIVITY_LABELS).astype(np.uint8))
        truth = _truth_change(masks[k - 1], masks[k])
        rows.append({"case": f"mslesseg_P14_{points[k - 1]}->{points[k]}", **evaluate_change(pred, truth).as_dict(),
                     "wall_s": wall, "peak_mb": peak, "t1": True})
    return rows


COLUMNS = ("truth_changes", "detected_changes", "false_positive_changes", "tpr", "f1", "change_dice",
           "registration_error_mm", "wall_s", "peak_mb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/followup"))
    parser.add_argument("--cases", nargs="*", default=["lesjak_patient01", "lesjak_patient03", "mslesseg_P14"])
    parser.add_argument("extra", nargs="*", help="extra arguments for `lesionwatch followup` (after --)")
    args = parser.parse_args()
    data = shared_data_dir()
    if data is None:
        sys.exit("../shared/data not found (set LESIONWATCH_SHARED_DATA)")
    rows: list[dict[str, object]] = []
    for name in args.cases:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        if name.startswith("lesjak_"):
            rows.append({"case": name, **lesjak(data / "lesjak_long" / name.split("_", 1)[1], args.out / name,
                                                 args.extra)})
        elif name == "mslesseg_P14":
            rows += mslesseg_p14(data / "mslesseg" / "P14", args.out / name, args.extra)
    lines = ["| case | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for row in rows:
        cells = [row.get(c, "") for c in COLUMNS]
        lines.append(f"| {row['case']} | " + " | ".join(f"{c:.3f}" if isinstance(c, float) else str(c)
                                                        for c in cells) + " |")
    text = "\n".join(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "followup.md").write_text(text + "\n")
    (args.out / "followup.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")
    print(text)


if __name__ == "__main__":
    main()
