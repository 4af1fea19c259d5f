"""Hostile-user probes of the command line: bad, unusual and interrupted inputs, one table row each.

Usage:
    python benchmarks/probe_cli.py [--work DIR] [--only SUBSTRING ...] [--keep]

Builds its inputs from a synthetic 3 mm study (FLAIR + T1 with skull, and its follow-up), then runs every probe
as a fresh `python -m lesionwatch --no-progress ...` process in its own folder and checks, per row:
- the exit code (0 success, 1 a failed analysis or task, 2 bad input or usage, 130 interrupted);
- for a refusal, that the first line of stderr is one `error:` line, naming the input file where one is at fault;
- no Python traceback anywhere on stderr;
- nothing left behind by a refusal or an interruption (the probe's folder holds what it held before, hidden
  staging folders included; the inputs are unchanged);
- the probe's own check where it has one (the same mask whatever the intensity units, a warning recorded...).
Prints the table (markdown) and a count; exits 1 if any row is not OK. About 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from lesionwatch.io.dicom import write_dicom_series
from lesionwatch.io.nifti import write_nifti
from lesionwatch.io.volume import LabelVolume, Volume
from lesionwatch.synth import SynthConfig, generate_case
from lesionwatch.workflows.layout import MASK_NAME, SUMMARY_NAME

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


# inputs ------------------------------------------------------------------------------------------------------------
def _nifti(array: np.ndarray, affine: np.ndarray, out: Path, dtype: type | None = None) -> Path:
    image = nib.Nifti1Image(array, affine)
    if dtype is not None:
        image.header.set_data_dtype(dtype)
    nib.save(image, str(out))
    return out


def _patched(source: Path, out: Path, fields: dict[int, bytes]) -> Path:
    """`source` (uncompressed NIfTI-1) with raw header bytes replaced at the given offsets."""
    raw = bytearray(source.read_bytes())
    for offset, value in fields.items():
        raw[offset:offset + len(value)] = value
    out.write_bytes(bytes(raw))
    return out


def _srow(affine: np.ndarray) -> dict[int, bytes]:
    """Header bytes that make `affine` the sform (qform off)."""
    return {280: struct.pack("<4f", *affine[0]), 296: struct.pack("<4f", *affine[1]),
            312: struct.pack("<4f", *affine[2]), 252: struct.pack("<h", 0), 254: struct.pack("<h", 1)}


def _read(path: Path) -> nib.Nifti1Image:
    img = nib.load(str(path))
    if not isinstance(img, nib.Nifti1Image):
        raise TypeError(f"{path}: not a NIfTI-1 image")
    return img


def _scaled(source: Path, out: Path, slope: float) -> Path:
    img = _read(source)
    image = nib.Nifti1Image(np.asarray(img.dataobj, dtype=np.float32), img.affine)
    image.header.set_data_dtype(np.float32)
    image.header["scl_slope"], image.header["scl_inter"] = slope, 0.0
    nib.save(image, str(out))
    return out


@dataclass
class Inputs:
    """Every input file the probes use, built once under `root`."""

    root: Path
    files: dict[str, Path] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Path:
        return self.files[name]

    def build(self) -> None:
        r = self.root
        r.mkdir(parents=True, exist_ok=True)
        case = generate_case(3, SynthConfig(spacing_mm=3.0, lesion_count=(10, 15)), timepoints=2)
        images = case.timepoints[0].images
        f = self.files
        f["flair"] = write_nifti(images["flair"], r / "flair.nii")
        f["flair_gz"] = write_nifti(images["flair"], r / "flair.nii.gz")
        f["t1"] = write_nifti(images["t1"], r / "t1.nii.gz")
        f["flair_2"] = write_nifti(case.timepoints[1].images["flair"], r / "flair_followup.nii.gz")
        img = _read(f["flair"])
        data, affine = np.asarray(img.dataobj, dtype=np.float32), img.affine
        raw = f["flair"].read_bytes()
        gz = f["flair_gz"].read_bytes()
        (r / "empty.nii.gz").write_bytes(b"")
        f["empty"] = r / "empty.nii.gz"
        (r / "text.nii.gz").write_text("this is not an image\n")
        f["text"] = r / "text.nii.gz"
        (r / "truncated.nii.gz").write_bytes(gz[: len(gz) // 2])
        f["truncated_gz"] = r / "truncated.nii.gz"
        (r / "truncated.nii").write_bytes(raw[: len(raw) // 2])
        f["truncated_nii"] = r / "truncated.nii"
        (r / "garbage.nii.gz").write_bytes(gzip.compress(os.urandom(4096)))
        f["garbage_gz"] = r / "garbage.nii.gz"
        f["bad_magic"] = _patched(f["flair"], r / "bad_magic.nii", {344: b"xyz\0"})
        (r / "no_dicom").mkdir()
        (r / "no_dicom" / "readme.txt").write_text("nothing here\n")
        f["folder_without_dicom"] = r / "no_dicom"
        (r / "empty_folder").mkdir()
        f["empty_folder"] = r / "empty_folder"
        f["2d"] = _nifti(data[:, :, data.shape[2] // 2], affine, r / "slice2d.nii.gz")
        f["4d"] = _nifti(np.stack([data] * 3, axis=-1), affine, r / "three_volumes.nii.gz")
        f["complex"] = _nifti(data.astype(np.complex64), affine, r / "complex.nii.gz")
        rgb = np.zeros(data.shape, dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
        f["rgb"] = _nifti(rgb, affine, r / "rgb.nii.gz")
        f["zeros"] = _nifti(np.zeros_like(data), affine, r / "zeros.nii.gz")
        f["constant"] = _nifti(np.full_like(data, 100.0), affine, r / "constant.nii.gz")
        f["all_nan"] = _nifti(np.full_like(data, np.nan), affine, r / "all_nan.nii.gz")
        with_inf = data.copy()
        with_inf[data > np.percentile(data, 99.9)] = np.inf
        f["some_inf"] = _nifti(with_inf, affine, r / "some_inf.nii.gz")
        f["huge_header"] = _patched(f["flair"], r / "huge_header.nii", {42: struct.pack("<3h", 30000, 30000, 30000)})
        f["vox_offset"] = _patched(f["flair"], r / "vox_offset.nii", {108: struct.pack("<f", 100.0)})
        singular = affine.copy()
        singular[:3, 0] = 0
        f["singular_affine"] = _patched(f["flair"], r / "singular_affine.nii", _srow(singular))
        nan_affine = affine.copy()
        nan_affine[0, 3] = np.nan
        f["nan_affine"] = _patched(f["flair"], r / "nan_affine.nii", _srow(nan_affine))
        f["no_spatial_header"] = _patched(f["flair"], r / "no_spatial_header.nii",
                                          {80: struct.pack("<3f", 0, 0, 0), 252: struct.pack("<hh", 0, 0)})
        f["slope_1e38"] = _scaled(f["flair"], r / "slope_1e38.nii", 1e38)
        f["slope_inverted"] = _scaled(f["flair"], r / "slope_inverted.nii", -1.0)
        f["slope_1e-30"] = _scaled(f["flair"], r / "slope_1e-30.nii", 1e-30)
        f["slope_1e6"] = _scaled(f["flair"], r / "slope_1e6.nii", 1e6)
        levels = np.digitize(data, np.percentile(data, [25, 50, 75])).astype(np.float32)
        f["four_levels"] = _nifti(levels, affine, r / "four_levels.nii.gz")
        f["tiny_fov"] = _nifti(data[20:40, 20:40, 10:30], affine, r / "tiny_fov.nii.gz")
        sheared = affine.copy()
        sheared[0, 1] = 0.4 * abs(affine[1, 1])
        f["sheared"] = _nifti(data, sheared, r / "sheared.nii.gz")
        far = affine.copy()
        far[:3, 3] += 800.0
        f["t1_elsewhere"] = write_nifti(Volume(np.asarray(images["t1"].array), far), r / "t1_elsewhere.nii.gz")
        # DICOM: the FLAIR as a series, one with a slice missing, a folder with two series
        f["dicom"] = r / "dicom"
        write_dicom_series(images["flair"], f["dicom"], series_description="AX FLAIR")
        f["dicom_missing_slice"] = r / "dicom_missing_slice"
        written = write_dicom_series(images["flair"], f["dicom_missing_slice"], series_description="AX FLAIR")
        written[len(written) // 2].unlink()
        f["dicom_two_series"] = r / "dicom_two_series"
        write_dicom_series(images["flair"], f["dicom_two_series"] / "a", series_description="sequence A",
                           series_number=1)
        write_dicom_series(images["t1"], f["dicom_two_series"] / "b", series_description="sequence B",
                           series_number=2)
        # masks for evaluate
        lesions = case.timepoints[0].lesions
        f["truth"] = write_nifti(lesions.with_array((lesions.array > 0).astype(np.uint8)), r / "truth.nii.gz")
        f["truth_other_grid"] = write_nifti(LabelVolume(np.zeros((10, 10, 10), np.uint8), np.eye(4)),
                                            r / "truth_other_grid.nii.gz")
        # models
        (r / "model_without_card").mkdir()
        f["model_without_card"] = r / "model_without_card"
        # a BIDS dataset whose second session is corrupt
        f["bids"] = r / "bids"
        for ses, tp in (("01", case.timepoints[0]), ("02", case.timepoints[1])):
            anat = f["bids"] / "sub-01" / f"ses-{ses}" / "anat"
            anat.mkdir(parents=True)
            write_nifti(tp.images["flair"], anat / f"sub-01_ses-{ses}_FLAIR.nii.gz")
        (f["bids"] / "dataset_description.json").write_text(json.dumps({"Name": "probe", "BIDSVersion": "1.9.0"}))
        (f["bids"] / "sub-01" / "ses-02" / "anat" / "sub-01_ses-02_FLAIR.nii.gz").write_bytes(gz[:1000])
        (r / "not_bids").mkdir()
        f["not_bids"] = r / "not_bids"
        (r / "a_file").write_text("x")
        f["a_file"] = r / "a_file"
        (r / "not_an_output").mkdir()
        f["not_an_output"] = r / "not_an_output"


# probes ------------------------------------------------------------------------------------------------------------
Args = Callable[[Inputs, Path], list[str]]
Check = Callable[[Inputs, Path, str], str | None]


@dataclass(frozen=True)
class Probe:
    """One command and what it must do.

    Attributes:
        name: what is probed.
        args: the command's arguments after `lesionwatch --no-progress -q`, given the inputs and the probe's folder.
        exit: the exit code it must end with.
        names: the input whose path the first stderr line must name (a refusal's culprit), if any.
        interrupt: (signal, seconds after start) to send the run.
        setup: prepares the probe's folder before the run (a pre-made output, a stale staging folder...).
        check: returns what is wrong with the result, or None.
    """

    name: str
    args: Args
    exit: int
    names: str | None = None
    interrupt: tuple[int, float] | None = None
    setup: Callable[[Path], None] | None = None
    check: Check | None = None


def segment(flair: str, *extra: str) -> Args:
    return lambda i, d: ["segment", "--flair", str(i[flair]), "--out", str(d / "out"), "--no-report", *extra]


def _mask(folder: Path) -> np.ndarray:
    return np.asarray(_read(folder / MASK_NAME).dataobj)


def same_mask_as_baseline(i: Inputs, d: Path, _: str) -> str | None:
    baseline = i.root.parent / "runs" / "segment-baseline" / "out"
    if not (baseline / MASK_NAME).is_file():
        return "the baseline run has no mask to compare with"
    if not _mask(baseline).any():
        return "the baseline mask is empty"
    differ = int((_mask(d / "out") != _mask(baseline)).sum())
    return None if differ == 0 else f"{differ} voxels differ from the baseline mask"


def warning_recorded(i: Inputs, d: Path, _: str) -> str | None:
    warnings = json.loads((d / "out" / SUMMARY_NAME).read_text())["qc_warnings"]
    return None if any("implausible input, analysed with --force" in w for w in warnings) else \
        f"no --force warning in summary.json: {warnings}"


def qform_unset(i: Inputs, d: Path, _: str) -> str | None:
    header = _read(d / "out" / MASK_NAME).header
    return None if int(header["qform_code"]) == 0 and int(header["sform_code"]) > 0 else \
        "the output's qform is set beside a sheared sform"


def output_written(i: Inputs, d: Path, _: str) -> str | None:
    return None if (d / "out" / SUMMARY_NAME).is_file() else "no summary.json written"


def nothing_hidden_left(i: Inputs, d: Path, _: str) -> str | None:
    hidden = [p.name for p in d.iterdir() if p.name.startswith(".")]
    return None if not hidden else f"left behind: {hidden}"


def stderr_says(text: str) -> Check:
    return lambda i, d, err: None if text in err else f"stderr does not say {text!r}"


def _make_out(d: Path) -> None:
    (d / "out").mkdir()


def _make_full_out(d: Path) -> None:
    (d / "out").mkdir()
    (d / "out" / "keep.txt").write_text("an earlier result\n")


def _make_file_out(d: Path) -> None:
    (d / "out").write_text("a file\n")


def _make_stale_staging(d: Path) -> None:
    (d / ".out.2147483646-0a1b.partial" / "figures").mkdir(parents=True)


READING = ["empty", "text", "truncated_gz", "truncated_nii", "garbage_gz", "bad_magic", "folder_without_dicom",
           "empty_folder", "2d", "4d", "complex", "rgb", "zeros", "constant", "all_nan", "some_inf", "huge_header",
           "vox_offset", "singular_affine", "nan_affine", "no_spatial_header", "slope_1e38", "slope_inverted",
           "four_levels", "tiny_fov", "t1", "dicom_missing_slice", "dicom_two_series"]

PROBES: list[Probe] = [
    Probe("segment-baseline", segment("flair"), EXIT_OK, check=output_written),
    *[Probe(f"segment --flair {name}", segment(name), EXIT_USAGE, names=name) for name in READING],
    Probe("segment --flair missing file", lambda i, d: ["segment", "--flair", str(i.root / "missing.nii.gz"),
                                                        "--out", str(d / "out")], EXIT_USAGE),
    Probe("segment --t1 missing file", lambda i, d: [*segment("flair")(i, d), "--t1", str(i.root / "nope.nii")],
          EXIT_USAGE),
    Probe("segment --t1 that is no image", lambda i, d: [*segment("flair")(i, d), "--t1", str(i["text"])],
          EXIT_USAGE, names="text"),
    Probe("segment --t1 800 mm away from the FLAIR", lambda i, d: [*segment("flair")(i, d), "--t1",
                                                                   str(i["t1_elsewhere"])], EXIT_USAGE,
          names="t1_elsewhere"),
    Probe("segment --flair and --bids together", lambda i, d: [*segment("flair")(i, d), "--bids", str(i["bids"])],
          EXIT_USAGE),
    Probe("segment --bids missing folder", lambda i, d: ["segment", "--bids", str(i.root / "nobids"), "--out",
                                                         str(d / "out")], EXIT_USAGE),
    Probe("segment --bids without dataset_description", lambda i, d: ["segment", "--bids", str(i["not_bids"]),
                                                                      "--out", str(d / "out")], EXIT_USAGE),
    Probe("segment without --flair", lambda i, d: ["segment", "--out", str(d / "out")], EXIT_USAGE),
    Probe("segment --series unknown uid", segment("dicom", "--series", "flair=1.2.3.4"), EXIT_USAGE),
    Probe("segment --threshold 2", segment("flair", "--threshold", "2"), EXIT_USAGE),
    Probe("segment --threshold nan", segment("flair", "--threshold", "nan"), EXIT_USAGE),
    Probe("segment --min-lesion-volume -1", segment("flair", "--min-lesion-volume", "-1"), EXIT_USAGE),
    Probe("segment --method nonsense", segment("flair", "--method", "nonsense"), EXIT_USAGE),
    Probe("segment --model missing folder", lambda i, d: segment("flair", "--model", str(i.root / "nomodel"))(i, d),
          EXIT_USAGE),
    Probe("segment --model folder without a card",
          lambda i, d: segment("flair", "--model", str(i["model_without_card"]))(i, d), EXIT_USAGE,
          names="model_without_card"),
    Probe("segment --no-such-option", segment("flair", "--no-such-option"), EXIT_USAGE),
    Probe("segment --out an existing folder", segment("flair"), EXIT_USAGE, setup=_make_full_out,
          check=lambda i, d, e: None if (d / "out" / "keep.txt").is_file() else "the earlier result was lost"),
    Probe("segment --out a file", segment("flair"), EXIT_USAGE, setup=_make_file_out),
    Probe("segment --out under a file", lambda i, d: ["segment", "--flair", str(i["flair"]), "--out",
                                                      str(i["a_file"] / "out")], EXIT_USAGE),
    Probe("segment --out a pre-made empty folder", segment("flair"), EXIT_OK, setup=_make_out, check=output_written),
    Probe("segment with a killed run's staging folder", segment("flair"), EXIT_OK, setup=_make_stale_staging,
          check=nothing_hidden_left),
    Probe("segment --flair .nii.gz", segment("flair_gz"), EXIT_OK, check=same_mask_as_baseline),
    Probe("segment --flair DICOM folder", segment("dicom"), EXIT_OK, check=output_written),
    Probe("segment --flair scl_slope 1e-30", segment("slope_1e-30"), EXIT_OK, check=same_mask_as_baseline),
    Probe("segment --flair scl_slope 1e6", segment("slope_1e6"), EXIT_OK, check=same_mask_as_baseline),
    Probe("segment --flair sheared affine", segment("sheared"), EXIT_OK, check=qform_unset),
    Probe("--force segment --flair T1", lambda i, d: ["--force", *segment("t1")(i, d)], EXIT_OK,
          check=warning_recorded),
    Probe("segment interrupted (SIGINT)", segment("flair"), EXIT_INTERRUPTED, interrupt=(signal.SIGINT, 8.0)),
    Probe("segment interrupted (SIGTERM)", segment("flair"), EXIT_INTERRUPTED, interrupt=(signal.SIGTERM, 8.0)),
    Probe("segment interrupted in the report (SIGINT)",
          lambda i, d: ["segment", "--flair", str(i["flair"]), "--out", str(d / "out")], EXIT_INTERRUPTED,
          interrupt=(signal.SIGINT, 25.0)),
    Probe("followup --flair A --flair A", lambda i, d: ["followup", "--flair", str(i["flair"]), "--flair",
                                                        str(i["flair"]), "--out", str(d / "out"), "--no-report"],
          EXIT_USAGE, names="flair"),
    Probe("followup of one study", lambda i, d: ["followup", "--flair", str(i["flair"]), "--out", str(d / "out")],
          EXIT_USAGE),
    Probe("followup with a corrupt second study",
          lambda i, d: ["followup", "--flair", str(i["flair"]), "--flair", str(i["truncated_gz"]), "--out",
                        str(d / "out"), "--no-report"], EXIT_USAGE, names="truncated_gz"),
    Probe("followup --label twice the same",
          lambda i, d: ["followup", "--flair", str(i["flair"]), "--flair", str(i["flair_2"]), "--label", "a",
                        "--label", "a", "--out", str(d / "out")], EXIT_USAGE),
    Probe("evaluate --pred a FLAIR", lambda i, d: ["evaluate", "--pred", str(i["flair"]), "--truth",
                                                   str(i["truth"])], EXIT_USAGE, names="flair"),
    Probe("evaluate --json a folder", lambda i, d: ["evaluate", "--pred", str(i["truth"]), "--truth",
                                                    str(i["truth"]), "--json", str(d)], EXIT_USAGE),
    Probe("evaluate --truth missing", lambda i, d: ["evaluate", "--pred", str(i["truth"]), "--truth",
                                                    str(i.root / "nope.nii.gz")], EXIT_USAGE),
    Probe("evaluate a mask against itself", lambda i, d: ["evaluate", "--pred", str(i["truth"]), "--truth",
                                                          str(i["truth"]), "--json", str(d / "m.json")], EXIT_OK,
          check=lambda i, d, e: None if json.loads((d / "m.json").read_text())["metrics"]["dice"] == 1.0 else
          "Dice of a mask with itself is not 1"),
    Probe("report of a folder that is no output", lambda i, d: ["report", str(i["not_an_output"])], EXIT_USAGE,
          names="not_an_output"),
    Probe("bids participant with a corrupt session",
          lambda i, d: ["bids", str(i["bids"]), str(d / "derivatives"), "participant", "--workers", "1"],
          EXIT_FAILED, check=lambda i, d, e: None if any((d / "derivatives").rglob(SUMMARY_NAME)) else
          "the good session's result was not kept"),
    Probe("bids participant of a folder that is no dataset",
          lambda i, d: ["bids", str(i["not_bids"]), str(d / "derivatives"), "participant"], EXIT_USAGE),
    Probe("train on a folder with no labelled scans",
          lambda i, d: ["train", str(i["empty_folder"]), "--out", str(d / "model"), "--iterations", "2"],
          EXIT_USAGE),
    Probe("models show of a missing model", lambda i, d: ["models", "show", "no-such-model"], EXIT_USAGE),
]
"""Every probe, in run order (the baseline first: the invariance checks compare with its mask)."""


# running -----------------------------------------------------------------------------------------------------------
@dataclass
class Row:
    name: str
    expected: int
    got: int
    first_line: str
    seconds: float
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def _listing(folder: Path) -> list[tuple[str, int, float]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_size if p.is_file() else -1, p.stat().st_mtime)
                  for p in folder.rglob("*"))


def run_probe(probe: Probe, inputs: Inputs, folder: Path) -> Row:
    folder.mkdir(parents=True)
    if probe.setup is not None:
        probe.setup(folder)
    before, inputs_before = _listing(folder), _listing(inputs.root)
    cmd = [sys.executable, "-m", "lesionwatch", "--no-progress", "-q", *probe.args(inputs, folder)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if probe.interrupt is not None:
        sig, after = probe.interrupt
        try:
            proc.wait(timeout=after)
        except subprocess.TimeoutExpired:
            proc.send_signal(sig)
    out, err = proc.communicate(timeout=900)
    seconds = time.perf_counter() - start
    lines = err.strip().splitlines()
    first = lines[0] if lines else ""
    problems = []
    if proc.returncode != probe.exit:
        problems.append(f"exit {proc.returncode}")
    if "Traceback" in err or "Traceback" in out:
        problems.append("traceback")
    if probe.exit == EXIT_USAGE:
        if not first.startswith("error: ") and not first.startswith("Usage:"):
            problems.append("no one-line error")
        if probe.names is not None and str(inputs[probe.names]) not in first:
            problems.append("the error does not name the file")
    if probe.exit in (EXIT_USAGE, EXIT_INTERRUPTED) and _listing(folder) != before:
        problems.append("left files behind")
    if _listing(inputs.root) != inputs_before:
        problems.append("changed its inputs")
    if probe.check is not None and proc.returncode == probe.exit:
        problem = probe.check(inputs, folder, err)
        if problem:
            problems.append(problem)
    return Row(probe.name, probe.exit, proc.returncode, first, seconds, problems)


def format_table(rows: list[Row]) -> str:
    out = ["| # | probe | exit (expected) | first line of stderr | s | result |", "|---|---|---|---|---|---|"]
    for n, row in enumerate(rows, start=1):
        first = row.first_line.replace("|", "\\|")
        first = first if len(first) <= 110 else first[:107] + "..."
        result = "OK" if row.ok else "**" + "; ".join(row.problems) + "**"
        out.append(f"| {n} | {row.name} | {row.got} ({row.expected}) | {first} | {row.seconds:.0f} | {result} |")
    bad = sum(not r.ok for r in rows)
    out.append("")
    out.append(f"{len(rows) - bad} of {len(rows)} probes OK")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, help="Work folder (default: a temporary one, removed at the end).")
    parser.add_argument("--only", nargs="+", default=[], help="Run the probes whose name holds one of these.")
    parser.add_argument("--keep", action="store_true", help="Keep the work folder.")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="lesionwatch-probes-"))
    if work.exists() and any(work.iterdir()):
        parser.error(f"{work}: the work folder must be new or empty")
    inputs = Inputs(work / "inputs")
    inputs.build()
    probes = [p for p in PROBES if not args.only or p.name == "segment-baseline" or
              any(s in p.name for s in args.only)]
    rows = []
    try:
        for n, probe in enumerate(probes, start=1):
            row = run_probe(probe, inputs, work / "runs" / (probe.name if n == 1 else f"{n:02d}"))
            print(f"[{n}/{len(probes)}] {row.name}: {'OK' if row.ok else '; '.join(row.problems)}", file=sys.stderr,
                  flush=True)
            rows.append(row)
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(format_table(rows))
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
