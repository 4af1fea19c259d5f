"""Run `lesionwatch followup` on the longitudinal cases of ../shared/data and score the change detection.

Usage:
    python benchmarks/followup.py [--out benchmarks/results/followup] [--cases lesjak_patient01 ... rescans]
                                  [-- EXTRA FOLLOWUP ARGS]

Cases:
- lesjak_long/patient01, patient03: raw 2D FLAIR (+T1 where both studies have one). Truth: the expert lesion
  change mask (new and enlarged lesion tissue) in the patient's common space; our study-2 change map (labels 2 and
  4: new lesions and growth of enlarging lesions) is carried there with the expert's study-2 transform. The
  registration is scored against the expert transforms: mean displacement (mm) of study-1 brain points between
  our study1->study2 mapping and the expert's.
- rescans (`--cases rescans`): five real scans, each against a pseudo-rescan of itself (`lesionwatch.synth.rescan`:
  the head moved by up to 4 degrees and 4 mm, another voxel grid, new bias and noise; seed fixed per scan): MSLesSeg
  P14 T1, P18, P39 and Lesjak patient26 (1 mm FLAIR + T1), ISBI training01 (raw 2D FLAIR with skull). Nothing
  changed, so every new or enlarging lesion is false; the table gives their count, the lesion volume change of the
  joint analysis, and that of the two studies segmented each on its own (`alone_change_percent`).
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
from lesionwatch.inference.postprocessing import card_operating_point, lesion_mask
from lesionwatch.io.itk import ras_matrix_from_itk
from lesionwatch.io.nifti import read_labels, read_volume, write_nifti
from lesionwatch.io.volume import LabelVolume
from lesionwatch.lesions.components import label_lesions
from lesionwatch.lesions.metrics import evaluate_change
from lesionwatch.longitudinal.change import ACTIVITY_LABELS
from lesionwatch.models.card import read_card, resolve_model_dir
from lesionwatch.paths import shared_data_dir
from lesionwatch.preprocessing.registration import mean_displacement_mm
from lesionwatch.preprocessing.resampling import Grid, resample
from lesionwatch.synth import rescan
from lesionwatch.workflows.layout import BRAIN_MASK_NAME, CHANGE_MAP_NAME, PROBABILITY_NAME, SUMMARY_NAME


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


RESCAN_SCANS = {
    "mslesseg_P14_T1": ("mslesseg/P14/T1/P14_T1_FLAIR.nii.gz", "mslesseg/P14/T1/P14_T1_T1.nii.gz"),
    "mslesseg_P18_T1": ("mslesseg/P18/T1/P18_T1_FLAIR.nii.gz", "mslesseg/P18/T1/P18_T1_T1.nii.gz"),
    "mslesseg_P39_T1": ("mslesseg/P39/T1/P39_T1_FLAIR.nii.gz", "mslesseg/P39/T1/P39_T1_T1.nii.gz"),
    "lesjak_patient26": ("lesjak_cross/patient26/FLAIR_N4_noneck_reduced_winsor_regtoFLAIR_brain_N4_regtoMNI.nii.gz",
                         "lesjak_cross/patient26/T1_N4_noneck_reduced_winsor_regtoFLAIR_brain_N4_regtoMNI.nii.gz"),
    "isbi_training01": ("isbi2015/training01/training01_01_flair.nii.gz", None),
}
"""The scans the pseudo-rescans are made of: (FLAIR, T1 or None), under ../shared/data."""


def pseudo_rescans(data: Path, out: Path, extra: list[str]) -> list[dict[str, object]]:
    """Follow each RESCAN_SCANS scan up against its pseudo-rescan: the count of new and enlarging lesions (all
    false) and the lesion volume change."""
    card = read_card(resolve_model_dir("default"))  # its operating point segments each study on its own
    rows = []
    for index, (name, (flair, t1)) in enumerate(RESCAN_SCANS.items()):
        images = {"flair": read_volume(data / flair), **({"t1": read_volume(data / t1)} if t1 else {})}
        again = rescan(images, np.random.default_rng(index))
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        flairs = [data / flair, write_nifti(again["flair"], folder / "rescan_flair.nii.gz")]
        t1s = [data / t1, write_nifti(again["t1"], folder / "rescan_t1.nii.gz")] if t1 else []
        wall, peak = run_timed(followup_cmd(flairs, t1s, folder / "followup", extra), name)
        interval = json.loads((folder / "followup" / SUMMARY_NAME).read_text())["intervals"][0]
        before = interval["volume_before_mm3"]
        # each study segmented on its own, as `segment` would: what the joint analysis starts from
        alone = []
        for study in ("study1", "study2"):
            mask = lesion_mask(read_volume(folder / "followup" / study / PROBABILITY_NAME),
                               card_operating_point(card))
            alone.append(float(mask.mask.sum()) * mask.voxel_volume_mm3)
        rows.append({"case": f"rescan_{name}", "new": interval["new_count"], "enlarging": interval["enlarging_count"],
                     "volume_before_mm3": before, "volume_after_mm3": interval["volume_after_mm3"],
                     "volume_change_percent": 100.0 * interval["volume_change_mm3"] / before if before else 0.0,
                     "alone_change_percent": 100.0 * (alone[1] - alone[0]) / alone[0] if alone[0] else 0.0,
                     "wall_s": wall, "peak_mb": peak, "t1": bool(t1)})
    return rows


RESCAN_COLUMNS = ("new", "enlarging", "volume_before_mm3", "volume_after_mm3", "volume_change_percent",
                  "alone_change_percent", "wall_s", "peak_mb")

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
        elif name == "rescans":
            rows += pseudo_rescans(data, args.out / name, args.extra)
    tables = []
    for columns, kept in ((COLUMNS, [r for r in rows if not str(r["case"]).startswith("rescan_")]),
                          (RESCAN_COLUMNS, [r for r in rows if str(r["case"]).startswith("rescan_")])):
        if not kept:
            continue
        lines = ["| case | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        for row in kept:
            cells = [row.get(c, "") for c in columns]
            lines.append(f"| {row['case']} | " + " | ".join(f"{c:.3f}" if isinstance(c, float) else str(c)
                                                            for c in cells) + " |")
        tables.append("\n".join(lines))
    text = "\n\n".join(tables)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "followup.md").write_text(text + "\n")
    (args.out / "followup.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")
    print(text)


if __name__ == "__main__":
    main()
