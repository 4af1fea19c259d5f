"""The BIDS App on a synthetic dataset: Dask workers, resumption, failures, group tables, BIDS validity."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from lesionwatch.cli.main import main
from lesionwatch.io.nifti import write_nifti
from lesionwatch.io.study import StudyInputs
from lesionwatch.synth import SynthConfig, generate_case
from lesionwatch.workflows.cohort import (
    CohortConfig,
    default_workers,
    local_cluster,
    run_participants,
)
from lesionwatch.workflows.cohort_group import collect_group
from lesionwatch.workflows.preprocess import RunOptions
from lesionwatch.workflows.segment import SegmentationConfig, run_segment

pytestmark = pytest.mark.slow


def bids_derivative_problems(out_dir: Path) -> list[str]:
    """Problems with the derivatives dataset: required description fields and the naming of anat files."""
    out_dir = Path(out_dir)
    problems = []
    try:
        description = json.loads((out_dir / "dataset_description.json").read_text())
    except (OSError, ValueError):
        return ["dataset_description.json is missing or not JSON"]
    for key in ("Name", "BIDSVersion", "DatasetType", "GeneratedBy"):
        if key not in description:
            problems.append(f"dataset_description.json lacks {key}")
    if description.get("DatasetType") != "derivative":
        problems.append("DatasetType is not 'derivative'")
    pattern = re.compile(r"^sub-[A-Za-z0-9]+(_ses-[A-Za-z0-9]+)?(_[a-z]+-[A-Za-z0-9]+)*_[A-Za-z0-9]+\.(nii\.gz|json)$")
    for path in out_dir.glob("sub-*/**/anat/*"):
        rel = path.relative_to(out_dir).parts
        if not pattern.match(path.name):
            problems.append(f"{path.relative_to(out_dir)}: not a BIDS file name")
        elif not path.name.startswith(rel[0]) or (rel[1].startswith("ses-") and f"_{rel[1]}_" not in path.name):
            problems.append(f"{path.relative_to(out_dir)}: name does not match its sub-/ses- folders")
        if path.suffix == ".gz" and not path.with_name(path.name.removesuffix(".nii.gz") + ".json").is_file():
            problems.append(f"{path.relative_to(out_dir)}: no JSON sidecar")
    return problems


CONFIG = CohortConfig(segmentation=SegmentationConfig(method="classical"))


def _dataset(root: Path) -> Path:
    """sub-a: two sessions; sub-b: one; sub-c: one whose FLAIR is corrupt."""
    cfg = SynthConfig(spacing_mm=3.0, skull_stripped=True, lesion_count=(6, 8), lesion_volume_mm3=(200.0, 2000.0),
                      sequences=("flair",))
    for subject, seed, sessions in (("a", 1, 2), ("b", 2, 1), ("c", 3, 1)):
        case = generate_case(seed, cfg, timepoints=sessions)
        for t, tp in enumerate(case.timepoints, start=1):
            anat = root / f"sub-{subject}" / f"ses-{t:02d}" / "anat"
            write_nifti(tp.images["flair"], anat / f"sub-{subject}_ses-{t:02d}_FLAIR.nii.gz")
    (root / "sub-c" / "ses-01" / "anat" / "sub-c_ses-01_FLAIR.nii.gz").write_bytes(b"not a nifti")
    (root / "dataset_description.json").write_text(json.dumps({"Name": "synthetic", "BIDSVersion": "1.10.0"}))
    return root


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _dataset(tmp_path_factory.mktemp("bids"))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_participant_level_on_a_local_dask_cluster_then_group(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "derivatives"
    records = run_participants(dataset, out, CONFIG, workers=2)
    status = {r["task"]: r["status"] for r in records}
    assert status == {"sub-a": "done", "sub-b_ses-01": "done", "sub-c_ses-01": "failed"}
    assert len({r["pid"] for r in records if "pid" in r}) >= 1
    failed = next(r for r in records if r["status"] == "failed")
    assert "sub-c_ses-01_FLAIR.nii.gz" in failed["error"]
    assert bids_derivative_problems(out) == []
    for session in ("ses-01", "ses-02"):
        assert (out / "sub-a" / session / "anat" / f"sub-a_{session}_desc-lesionchange_dseg.nii.gz").is_file()

    assert main(["--no-progress", "bids", str(dataset), str(out), "group"]) == 0
    sessions = _rows(out / "group" / "sessions.csv")
    assert [(r["subject"], r["session"], r["status"]) for r in sessions] == [
        ("a", "01", "done"), ("a", "02", "done"), ("b", "01", "done"), ("c", "01", "failed")]
    lesions = _rows(out / "group" / "lesions.csv")
    for r in sessions[:3]:
        assert int(r["lesion_count"]) == sum(1 for x in lesions if (x["subject"], x["session"]) ==
                                             (r["subject"], r["session"])) > 0
    assert len(_rows(out / "group" / "intervals.csv")) == 1
    import pyarrow.parquet as pq

    assert pq.read_table(out / "group" / "sessions.parquet").num_rows == 4
    assert (out / "group" / "lesion_load.png").read_bytes()[:4] == b"\x89PNG"

    # the cohort row of a session equals running that session alone
    alone = run_segment(_inputs(dataset, "b"), tmp_path / "alone", CONFIG.preprocessing, CONFIG.segmentation,
                        RunOptions(progress=False, report=False))
    summary = json.loads((alone / "summary.json").read_text())
    row = next(r for r in sessions if r["subject"] == "b")
    assert int(row["lesion_count"]) == summary["lesion_count"]
    assert float(row["lesion_volume_mm3"]) == pytest.approx(summary["lesion_volume_mm3"])

    # a rerun does no work
    again = run_participants(dataset, out, CONFIG, workers=1)
    assert {r["task"]: r["status"] for r in again} == {"sub-a": "skipped", "sub-b_ses-01": "skipped",
                                                       "sub-c_ses-01": "failed"}


def _inputs(dataset: Path, subject: str) -> StudyInputs:
    return StudyInputs.from_bids(dataset / f"sub-{subject}" / "ses-01")


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(dataset: Path, tmp_path: Path) -> None:
    from distributed import Client

    out = tmp_path / "derivatives"
    with local_cluster(2) as cluster, Client(cluster) as client:
        result: dict[str, list[dict[str, object]]] = {}
        runner = threading.Thread(target=lambda: result.setdefault(
            "records", run_participants(dataset, out, CONFIG, scheduler=cluster.scheduler_address)))
        runner.start()
        deadline = time.time() + 120
        while time.time() < deadline and not list(out.glob("sub-*/**/.*partial")):
            time.sleep(0.2)  # wait until a task is writing its results
        victim = sorted(client.scheduler_info()["workers"])[0]
        pid = client.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)  # the worker dies mid-task; its nanny starts a new one
        runner.join(timeout=600)
    records = result["records"]
    assert {r["task"]: r["status"] for r in records} == {"sub-a": "done", "sub-b_ses-01": "done",
                                                         "sub-c_ses-01": "failed"}
    tables = collect_group(out)
    keys = [(r["subject"], r["session"]) for r in tables["sessions"]]
    assert sorted(keys) == [("a", "01"), ("a", "02"), ("b", "01"), ("c", "01")]  # each exactly once
    assert bids_derivative_problems(out) == []


def test_local_workers_share_the_cores_instead_of_one_thread_each(monkeypatch: pytest.MonkeyPatch) -> None:
    from distributed import Client

    monkeypatch.setenv("LESIONWATCH_THREADS", "4")  # this machine's cores, as the workers should see a share
    with local_cluster(2) as cluster, Client(cluster) as client:
        seen = client.run(lambda: (os.environ.get("OMP_NUM_THREADS"), os.environ.get("LESIONWATCH_THREADS")))
    assert sorted(seen.values()) == [("2", "2"), ("2", "2")]  # Dask alone would give OMP_NUM_THREADS=1


def test_default_workers_divide_the_cores_this_job_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LESIONWATCH_THREADS", "8")  # e.g. a cluster job's share, not the node's cores
    assert default_workers(memory_per_worker_gb=1e-3) == 4  # two threads a worker
    monkeypatch.setenv("LESIONWATCH_THREADS", "1")
    assert default_workers(memory_per_worker_gb=1e-3) == 1
    monkeypatch.setenv("LESIONWATCH_THREADS", "8")
    assert default_workers(memory_per_worker_gb=1e12) == 1  # memory limits too


def test_a_corrupt_session_is_left_out_and_the_subjects_good_session_kept(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """sub-d: ses-01 good, ses-02 corrupt: ses-01 is analysed and published, ses-02 recorded as failed, exit 1."""
    cfg = SynthConfig(spacing_mm=3.0, skull_stripped=True, lesion_count=(6, 8), lesion_volume_mm3=(200.0, 2000.0),
                      sequences=("flair",))
    root = tmp_path / "ds"
    case = generate_case(4, cfg, timepoints=1)
    write_nifti(case.timepoints[0].images["flair"], root / "sub-d" / "ses-01" / "anat" / "sub-d_ses-01_FLAIR.nii.gz")
    bad = root / "sub-d" / "ses-02" / "anat" / "sub-d_ses-02_FLAIR.nii.gz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a nifti")
    (root / "dataset_description.json").write_text(json.dumps({"Name": "synthetic", "BIDSVersion": "1.10.0"}))
    out = tmp_path / "derivatives"
    assert main(["--no-progress", "bids", str(root), str(out), "participant", "--workers", "1"]) == 1
    assert "sub-d ses-02 (left out of its follow-up)" in capsys.readouterr().err
    assert (out / "sub-d" / "ses-01" / "anat" / "sub-d_ses-01_desc-lesions_mask.nii.gz").is_file()
    sessions = {r["session"]: r["status"] for r in collect_group(out)["sessions"]}
    assert sessions == {"01": "done", "02": "failed"}
