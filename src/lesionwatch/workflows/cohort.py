"""The cohort workflow (BIDS App): every session of a BIDS dataset, locally or on a Dask cluster, resumable.

Participant level, one task per unit of work:
- a subject with one session: `segment` on it;
- a subject with several sessions: `followup` on all of them (the joint analysis needs every session of the
  subject in one place; it also writes each session's segmentation, with lesion ids shared across sessions).

Each task writes its full lesionwatch folder (`sub-X/ses-Y/lesionwatch/` or `sub-X/followup/`) atomically, then
BIDS-named copies of the main images (`sub-X/ses-Y/anat/sub-X_ses-Y_desc-lesions_mask.nii.gz` ...) with JSON
sidecars, and last its `task.json` (status, a key made of the input hashes, the configuration and the version, and
the error if it failed). A rerun skips every task whose `task.json` says done with the same key; a failed task is
recorded and does not stop the others; a task killed half-way leaves no result that looks complete.

The group level (`workflows.cohort_group`) reads these folders into cohort tables.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import shutil
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lesionwatch import __version__
from lesionwatch.errors import (
    BidsLayoutError,
    ConfigError,
    InputImageError,
    LesionwatchError,
    MissingDependencyError,
)
from lesionwatch.inference.predictor import load_scorer
from lesionwatch.io.atomic import write_atomically, write_json_atomically
from lesionwatch.io.bids import find_bids_session, list_bids_sessions
from lesionwatch.io.study import StudyInputs, hash_input, load_study
from lesionwatch.paths import cpu_threads
from lesionwatch.preprocessing.pipeline import PreprocessingConfig
from lesionwatch.workflows.followup import LongitudinalConfig, run_followup
from lesionwatch.workflows.layout import (
    CHANGE_MAP_NAME,
    LABELS_NAME,
    MASK_NAME,
    PROBABILITY_NAME,
    PROVENANCE_NAME,
    TASK_FILE,
)
from lesionwatch.workflows.preprocess import RunOptions
from lesionwatch.workflows.provenance import config_dict
from lesionwatch.workflows.segment import SegmentationConfig, run_segment

log = logging.getLogger(__name__)

BIDS_VERSION = "1.10.0"

# lesionwatch file -> (BIDS desc, BIDS suffix, what it is)
_BIDS_IMAGES = {
    MASK_NAME: ("lesions", "mask", "binary lesion mask"),
    PROBABILITY_NAME: ("lesions", "probseg", "lesion probability"),
    LABELS_NAME: ("lesionids", "dseg", "lesion ids (26-connectivity; shared across sessions for a follow-up)"),
    CHANGE_MAP_NAME: ("lesionchange", "dseg", "lesion change classes since the previous session"),
}


@dataclass(frozen=True)
class CohortTask:
    """One unit of participant-level work.

    Attributes:
        subject: BIDS subject label (without "sub-").
        sessions: session labels (without "ses-"; "" for a subject without session folders), in order.
        inputs: the inputs of each session.
    """

    subject: str
    sessions: tuple[str, ...]
    inputs: tuple[StudyInputs, ...]

    @property
    def name(self) -> str:
        return f"sub-{self.subject}" + (f"_ses-{self.sessions[0]}" if len(self.sessions) == 1 and self.sessions[0]
                                        else "")

    def folder(self, out_dir: Path) -> Path:
        """Where the task's lesionwatch folder and task.json go."""
        if len(self.sessions) > 1:
            return out_dir / f"sub-{self.subject}" / "followup"
        return _session_dir(out_dir, self.subject, self.sessions[0]) / "lesionwatch"


@dataclass(frozen=True)
class CohortConfig:
    """What every task runs with."""

    preprocessing: PreprocessingConfig = dataclasses.field(default_factory=PreprocessingConfig)
    segmentation: SegmentationConfig = dataclasses.field(default_factory=SegmentationConfig)
    longitudinal: LongitudinalConfig = dataclasses.field(default_factory=LongitudinalConfig)
    report: bool = False


def _session_dir(out_dir: Path, subject: str, session: str) -> Path:
    return out_dir / f"sub-{subject}" / (f"ses-{session}" if session else "")


def _prefix(subject: str, session: str) -> str:
    return f"sub-{subject}" + (f"_ses-{session}" if session else "")


def find_tasks(bids_dir: Path, participant_labels: Iterable[str] = (), session_labels: Iterable[str] = ()
               ) -> list[CohortTask]:
    """The participant-level tasks of a BIDS dataset.

    Sessions without a FLAIR are skipped with a warning; a subject left with no session is skipped too.

    Raises:
        BidsLayoutError: the folder holds no sub-* subject, or a requested participant is missing.
    """
    bids_dir = Path(bids_dir)
    subjects = sorted(p for p in bids_dir.glob("sub-*") if p.is_dir())
    if not subjects:
        raise BidsLayoutError(f"{bids_dir}: no sub-* folders; expected the root of a BIDS dataset.")
    wanted = {label.removeprefix("sub-") for label in participant_labels}
    missing = wanted - {p.name.removeprefix("sub-") for p in subjects}
    if missing:
        raise BidsLayoutError(f"{bids_dir}: participant(s) {', '.join(sorted(missing))} not found.")
    sessions_wanted = {label.removeprefix("ses-") for label in session_labels}
    tasks = []
    for subject_dir in subjects:
        subject = subject_dir.name.removeprefix("sub-")
        if wanted and subject not in wanted:
            continue
        labels, inputs = [], []
        for session_dir in list_bids_sessions(subject_dir):
            label = session_dir.name.removeprefix("ses-") if session_dir.name.startswith("ses-") else ""
            if sessions_wanted and label not in sessions_wanted:
                continue
            try:
                found = find_bids_session(session_dir)
            except BidsLayoutError as exc:
                log.warning("skipping %s: %s", session_dir, exc)
                continue
            labels.append(label)
            inputs.append(StudyInputs(found["flair"], found.get("t1"), found.get("t2"), found.get("pd")))
        if inputs:
            tasks.append(CohortTask(subject, tuple(labels), tuple(inputs)))
    return tasks


def task_key(task: CohortTask, config: CohortConfig) -> str:
    """A digest of everything the task's results depend on: input contents, configuration, version."""
    digest = hashlib.sha256(__version__.encode())
    digest.update(json.dumps(config_dict(config), sort_keys=True, default=str).encode())
    for study in task.inputs:
        for name, path in study.paths().items():
            digest.update(name.encode())
            digest.update(hash_input(path).encode())
    return digest.hexdigest()


def task_is_done(task: CohortTask, out_dir: Path, key: str) -> bool:
    """True when the task's task.json says done with this key (and its folder is there)."""
    record = task.folder(out_dir) / TASK_FILE
    try:
        data = json.loads(record.read_text())
    except (OSError, ValueError):
        return False
    return bool(data.get("status") == "done" and data.get("key") == key)


def _copy_atomically(src: Path, dst: Path) -> None:
    def write(tmp: Path) -> None:
        shutil.copyfile(src, tmp)

    write_atomically(dst, write)


def _bids_uri(path: Path) -> str:
    """BIDS URI of a raw file ("bids::sub-X/ses-Y/anat/NAME"), from its path inside the dataset."""
    parts = path.parts
    start = next((i for i, p in enumerate(parts) if p.startswith("sub-")), len(parts) - 1)
    return "bids::" + "/".join(parts[start:])


def _publish_bids(result_dir: Path, out_dir: Path, subject: str, session: str, source: StudyInputs,
                  model: dict[str, Any]) -> list[str]:
    """BIDS-named copies of one session's images, with sidecars naming the space and the model."""
    anat = _session_dir(out_dir, subject, session) / "anat"
    anat.mkdir(parents=True, exist_ok=True)
    written = []
    for fname, (desc, suffix, what) in _BIDS_IMAGES.items():
        src = result_dir / fname
        if not src.is_file():
            continue
        stem = f"{_prefix(subject, session)}_desc-{desc}_{suffix}"
        _copy_atomically(src, anat / f"{stem}.nii.gz")
        write_json_atomically(anat / f"{stem}.json", {
            "Description": what,
            "Space": "native grid of the source FLAIR (same voxels and header)",
            "Sources": [_bids_uri(Path(source.flair))],
            "Model": model,
            "GeneratedBy": [{"Name": "lesionwatch", "Version": __version__}],
        })
        written.append(f"{stem}.nii.gz")
    return written


def run_task(task: CohortTask, out_dir: Path, config: CohortConfig) -> dict[str, Any]:
    """Run one task unless done; never raises for a bad session (the error is recorded in task.json).

    Returns:
        The task record: name, status ("done", "skipped" or "failed"), key, error.
    """
    out_dir = Path(out_dir)
    key = task_key(task, config)
    folder = task.folder(out_dir)
    if task_is_done(task, out_dir, key):
        return {"task": task.name, "status": "skipped", "key": key}
    options = RunOptions(force=True, progress=False, report=config.report)
    record: dict[str, Any] = {"task": task.name, "subject": task.subject, "sessions": list(task.sessions),
                              "key": key, "lesionwatch": __version__, "pid": os.getpid()}
    try:
        sessions, inputs = list(task.sessions), list(task.inputs)
        if len(sessions) > 1:  # a session that cannot be read is left out, not the subject's other sessions
            unreadable = _unreadable_sessions(task)
            if unreadable:
                record["failed_sessions"] = unreadable
                kept = [i for i, s in enumerate(sessions) if s not in unreadable]
                sessions, inputs = [sessions[i] for i in kept], [inputs[i] for i in kept]
                record["sessions"] = sessions
                if not sessions:
                    raise InputImageError("; ".join(f"ses-{k}: {v}" for k, v in unreadable.items()))
        _cached_scorer(config.segmentation)  # the model is loaded once per worker process
        if len(sessions) == 1:
            run_segment(inputs[0], folder, config.preprocessing, config.segmentation, options)
            results = {sessions[0]: folder}
        else:
            labels = [f"ses-{s}" for s in sessions]
            run_followup(inputs, folder, config.preprocessing, config.segmentation, config.longitudinal,
                         options, labels=labels)
            results = {s: folder / label for s, label in zip(sessions, labels, strict=True)}
        provenance = json.loads((folder / PROVENANCE_NAME).read_text())
        published = []
        for (session, result_dir), source in zip(results.items(), inputs, strict=True):
            published += _publish_bids(result_dir, out_dir, task.subject, session, source,
                                       provenance.get("model", {}))
        record.update(status="done", outputs=published)
    except LesionwatchError as exc:
        record.update(status="failed", error=str(exc))
    except Exception as exc:
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomically(folder / TASK_FILE, record)
    if record["status"] == "failed":
        log.error("%s failed: %s", task.name, record["error"])
    return record


def _unreadable_sessions(task: CohortTask) -> dict[str, str]:
    """Session -> why its images cannot be read (or are no scan), for the sessions of `task` that fail so."""
    bad = {}
    for session, inputs in zip(task.sessions, task.inputs, strict=True):
        try:
            load_study(inputs)
        except LesionwatchError as exc:
            bad[session] = str(exc)
            log.error("%s ses-%s left out: %s", task.name, session, exc)
    return bad


@functools.lru_cache(maxsize=2)
def _cached_scorer(config: SegmentationConfig) -> object:
    return load_scorer(config.method, config.model, config.threshold, config.min_lesion_volume_mm3)


def default_workers(memory_per_worker_gb: float = 4.0) -> int:
    """Local worker processes: one per two of the cores this job may use (`paths.cpu_threads`, as `local_cluster`
    divides them; each worker then runs two threads), limited by memory."""
    cores = cpu_threads()
    try:
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        memory_gb = 8.0
    return max(1, min(cores // 2, int(memory_gb // memory_per_worker_gb)))


def write_dataset_description(out_dir: Path, bids_dir: Path) -> None:
    """The BIDS derivatives dataset_description.json."""
    write_json_atomically(Path(out_dir) / "dataset_description.json", {
        "Name": "lesionwatch MS lesion segmentation",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "lesionwatch", "Version": __version__,
                         "CodeURL": "https://github.com/lesionwatch/lesionwatch"}],
        "SourceDatasets": [{"URL": Path(bids_dir).resolve().as_uri()}],
    })


def run_participants(bids_dir: Path, out_dir: Path, config: CohortConfig, *, participant_labels: Iterable[str] = (),
                     session_labels: Iterable[str] = (), workers: int | None = None,
                     scheduler: str | None = None, on_done: Callable[[dict[str, Any]], None] | None = None
                     ) -> list[dict[str, Any]]:
    """Participant level: run every task, locally (in-process or a Dask LocalCluster) or on a Dask cluster.

    Args:
        bids_dir: BIDS dataset root.
        out_dir: derivatives folder (created).
        config: what every task runs with.
        participant_labels, session_labels: restrict to these (empty: all).
        workers: local worker processes (default `default_workers()`); 1 runs in this process.
        scheduler: address of a running Dask scheduler (then `workers` is ignored).
        on_done: called with each task record as it finishes (progress display).

    Returns:
        The task records, in task order.
    """
    bids_dir, out_dir = Path(bids_dir), Path(out_dir)
    if out_dir.resolve() == bids_dir.resolve() or out_dir.resolve().name.startswith("sub-"):
        raise ConfigError(f"{out_dir}: the output folder must not be the BIDS dataset itself or one of its "
                          "subjects; use e.g. BIDS_DIR/derivatives/lesionwatch")
    tasks = find_tasks(bids_dir, participant_labels, session_labels)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_dataset_description(out_dir, bids_dir)
    log.info("%d tasks (%d sessions)", len(tasks), sum(len(t.sessions) for t in tasks))
    n_workers = workers or default_workers()
    if scheduler is None and n_workers == 1:
        records = []
        for task in tasks:
            records.append(run_task(task, out_dir, config))
            if on_done:
                on_done(records[-1])
        return records
    return _run_on_dask(tasks, out_dir, config, n_workers, scheduler, on_done)


def local_cluster(n_workers: int) -> Any:
    """A Dask LocalCluster of `n_workers` processes, one task each, sharing this machine's cores between them.

    Dask starts its workers with OMP_NUM_THREADS=1 (its `distributed.nanny.pre-spawn-environ`), which would leave
    each worker's network and resampling on one core however many the machine has; each worker gets its share of
    the cores instead (`LESIONWATCH_THREADS` and `OMP_NUM_THREADS`, read by `paths.cpu_threads` and torch).
    """
    from distributed import LocalCluster

    threads = str(max(1, cpu_threads() // n_workers))
    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        env={"LESIONWATCH_THREADS": threads, "OMP_NUM_THREADS": threads})


def _run_on_dask(tasks: list[CohortTask], out_dir: Path, config: CohortConfig, n_workers: int,
                 scheduler: str | None, on_done: Callable[[dict[str, Any]], None] | None) -> list[dict[str, Any]]:
    try:
        from distributed import Client, as_completed
    except ImportError as exc:
        raise MissingDependencyError.for_extra("cohort", "parallel and cluster runs") from exc
    cluster = None
    if scheduler is None:
        cluster = local_cluster(n_workers)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        futures = {client.submit(run_task, task, out_dir, config, key=f"lesionwatch-{task.name}-{i}",
                                 pure=False): i for i, task in enumerate(tasks)}
        records: list[dict[str, Any] | None] = [None] * len(tasks)
        for future in as_completed(futures):
            index = futures[future]
            try:
                records[index] = future.result()
            except Exception as exc:
                records[index] = {"task": tasks[index].name, "status": "failed",
                                  "error": f"{type(exc).__name__}: {exc}"}
            if on_done:
                on_done(records[index])  # type: ignore[arg-type]
        return [r for r in records if r is not None]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
