"""The REST API: every bad upload gets a clear 4xx and leaves nothing behind; jobs survive a restart; access."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lesionwatch.io.nifti import write_nifti
from lesionwatch.synth import SynthConfig, generate_case
from lesionwatch.web.app import create_app
from lesionwatch.web.jobs import JobStore
from lesionwatch.web.uploads import UploadLimits


@pytest.fixture(scope="module")
def flair_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    case = generate_case(5, SynthConfig(spacing_mm=3.0, skull_stripped=True, sequences=("flair",)))
    path = write_nifti(case.timepoints[0].images["flair"], tmp_path_factory.mktemp("f") / "flair.nii.gz")
    return path.read_bytes()


def _client(root: Path, **kwargs: object) -> TestClient:
    # workers=0: jobs stay queued, so these tests never run a workflow
    return TestClient(create_app(root, workers=0, **kwargs))  # type: ignore[arg-type]


def _job_folders(root: Path) -> list[Path]:
    return list((root / "jobs").iterdir())


def _zip(entries: dict[str, bytes], symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def _zip_with_an_empty_name() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(zipfile.ZipInfo(""), b"x")
    return buffer.getvalue()


def _stored_zip_with_bad_crc() -> bytes:
    """A zip whose one member's bytes no longer match its header (as a member larger than declared does)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a.dcm", b"A" * 1000)
    return buffer.getvalue().replace(b"A" * 1000, b"A" * 999 + b"B", 1)


@pytest.mark.parametrize(("files", "data", "status", "message"), [
    ({"flair": ("scan.nii.gz", b"hello, not an image" * 30)}, {}, 415, "FLAIR file is not a NIfTI image"),
    ({"t1": ("t1.nii.gz", b"x")}, {}, 415, "T1 file is not a NIfTI image"),
    ({}, {}, 400, "no study uploaded"),
    ({"dicom": ("d.zip", _zip({"../../evil.dcm": b"x"}))}, {}, 400, "absolute path or '..'"),
    ({"dicom": ("d.zip", _zip({"/abs.dcm": b"x"}))}, {}, 400, "absolute path or '..'"),
    ({"dicom": ("d.zip", _zip({"a.dcm": b"x"}, symlink="link.dcm"))}, {}, 400, "symbolic link"),
    ({"dicom": ("d.zip", _zip({"bomb.dcm": b"\0" * 5_000_000}))}, {}, 413, "zip bomb"),
    ({"dicom": ("d.zip", b"not a zip at all")}, {}, 400, "must be a zip file"),
    ({"dicom": ("d.zip", _zip({"a.txt": b"not dicom"}))}, {}, 415, "no DICOM image series"),
    ({"dicom": ("d.zip", _zip_with_an_empty_name())}, {}, 400, "a file with an empty name"),
    ({"dicom": ("d.zip", _stored_zip_with_bad_crc())}, {}, 400, "the zip file is damaged (Bad CRC-32"),
    ({"notes": ("notes.bin", b"\0" * 100_000)}, {}, 400, "unknown form field 'notes'"),
    ({}, {"comment": "hello"}, 400, "unknown form field 'comment'"),
    ({"method": ("m.txt", b"model")}, {}, 400, "field method must be text, not a file"),
], ids=["wrong-type", "t1-wrong-type", "nothing", "zip-dotdot", "zip-absolute", "zip-symlink", "zip-bomb",
        "not-a-zip", "zip-without-dicom", "zip-empty-name", "zip-member-not-as-declared",
        "file-under-unknown-field", "text-under-unknown-field", "file-as-option"])
def test_bad_uploads_are_refused_and_leave_nothing(tmp_path: Path, files: dict[str, tuple[str, bytes]],
                                                   data: dict[str, str], status: int, message: str) -> None:
    with _client(tmp_path) as client:
        response = client.post("/api/jobs", files=files, data={"kind": "segment", **data})
        assert response.status_code == status, response.text
        assert message in response.json()["detail"]
        assert client.get("/api/jobs").json() == []
    assert _job_folders(tmp_path) == []


def test_missing_flair_and_too_few_studies_are_refused(tmp_path: Path, flair_bytes: bytes) -> None:
    with _client(tmp_path) as client:
        r = client.post("/api/jobs", data={"kind": "segment"}, files={"t1": ("t1.nii.gz", flair_bytes)})
        assert r.status_code == 400 and "a FLAIR is required" in r.json()["detail"]
        r = client.post("/api/jobs", data={"kind": "followup"}, files={"flair_1": ("a.nii.gz", flair_bytes)})
        assert r.status_code == 400 and "at least two studies" in r.json()["detail"]
        r = client.post("/api/jobs", data={"kind": "segment", "threshold": "7"},
                        files={"flair": ("a.nii.gz", flair_bytes)})
        assert r.status_code == 400 and "threshold" in r.json()["detail"]
    assert _job_folders(tmp_path) == []


def test_too_big_upload_is_refused(tmp_path: Path, flair_bytes: bytes) -> None:
    with _client(tmp_path, limits=UploadLimits(max_file_bytes=1000)) as client:
        r = client.post("/api/jobs", data={"kind": "segment"}, files={"flair": ("a.nii.gz", flair_bytes)})
        assert r.status_code == 413 and "larger than" in r.json()["detail"]
    assert _job_folders(tmp_path) == []


def test_upload_is_stored_under_server_names_and_queued(tmp_path: Path, flair_bytes: bytes) -> None:
    with _client(tmp_path) as client:
        r = client.post("/api/jobs", data={"kind": "segment"},
                        files={"flair": ("../../../etc/evil name.nii.gz", flair_bytes)})
        assert r.status_code == 201
        job = r.json()
        assert job["status"] == "queued" and "path" not in json.dumps(job)
        folder = tmp_path / "jobs" / job["id"]
        assert [p.name for p in folder.rglob("*") if p.is_file()] == ["flair.nii.gz"]
        assert client.get(f"/api/jobs/{job['id']}/download/..%2F..%2Fjobs.sqlite").status_code == 404
        assert client.get("/api/jobs/not-a-job-id").status_code == 404
        assert client.post(f"/api/jobs/{job['id']}/cancel").json()["status"] == "cancelled"
        assert client.delete(f"/api/jobs/{job['id']}").status_code == 204
        assert not folder.exists()


def test_queued_and_finished_jobs_survive_a_restart_and_running_ones_fail_visibly(tmp_path: Path,
                                                                                  flair_bytes: bytes) -> None:
    with _client(tmp_path) as client:
        ids = [client.post("/api/jobs", data={"kind": "segment"},
                           files={"flair": ("a.nii.gz", flair_bytes)}).json()["id"] for _ in range(3)]
    store = JobStore(tmp_path)
    store.update(ids[0], status="done", stage="done", progress=1.0)
    store.update(ids[1], status="running", stage="segment")  # as if the server died mid-job
    with _client(tmp_path) as client:
        jobs = {j["id"]: j for j in client.get("/api/jobs").json()}
    assert set(jobs) == set(ids)
    assert jobs[ids[0]]["status"] == "done"
    assert jobs[ids[1]]["status"] == "failed" and "server stopped" in jobs[ids[1]]["error"]
    assert jobs[ids[2]]["status"] == "queued"


def test_staging_left_by_a_killed_job_is_removed_on_restart(tmp_path: Path, flair_bytes: bytes) -> None:
    with _client(tmp_path) as client:
        job = client.post("/api/jobs", data={"kind": "segment"}, files={"flair": ("a.nii.gz", flair_bytes)}).json()
    folder = tmp_path / "jobs" / job["id"]
    left = folder / ".result.2147483646-0a1b.partial"  # a process id that no longer runs
    (left / "figures").mkdir(parents=True)
    (left / "summary.json").write_text("{}")
    with _client(tmp_path):
        pass
    assert not left.exists() and (folder / "study1" / "flair.nii.gz").is_file()


def test_the_api_docs_are_served_from_the_installed_package(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
        assert "cdn" not in page.text and "https://" not in page.text  # nothing fetched from the internet
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"):
            assert client.get(f"/static/docs/{asset}").status_code == 200
        assert client.get("/static/docs/..%2F__init__.py").status_code == 404
        assert client.get("/redoc").status_code == 404
        assert client.get("/openapi.json").json()["info"]["title"] == "lesionwatch"


def test_a_token_is_required_when_set(tmp_path: Path) -> None:
    with _client(tmp_path, token="s3cret") as client:
        assert client.get("/api/jobs").status_code == 401
        assert client.get("/api/jobs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        page = client.get("/?token=s3cret")
        assert page.status_code == 200 and "lw_token" in page.headers.get("set-cookie", "")
        assert client.get("/api/jobs").status_code == 200  # the cookie now carries it


def test_concurrent_uploads_are_all_kept(tmp_path: Path, flair_bytes: bytes) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with _client(tmp_path) as client:
        def upload(_: int) -> int:
            return client.post("/api/jobs", data={"kind": "segment"},
                               files={"flair": ("a.nii.gz", flair_bytes)}).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(upload, range(16)))
        assert codes == [201] * 16
        assert len(client.get("/api/jobs").json()) == 16
    assert len(_job_folders(tmp_path)) == 16


def test_a_job_process_dies_with_its_server(tmp_path: Path) -> None:
    """The server SIGKILLed: its job process ends too, instead of running on beside the restarted server."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = ("import multiprocessing, sys, time\n"
              "from lesionwatch.web.jobs import die_with_parent\n"
              "def job(server):\n    die_with_parent(server, 0.1)\n    time.sleep(60)\n"
              "if __name__ == '__main__':\n"
              "    import os\n"
              "    p = multiprocessing.get_context('spawn').Process(target=job, args=(os.getpid(),))\n    p.start()\n"
              "    print(p.pid, flush=True)\n    time.sleep(60)\n")
    (tmp_path / "server.py").write_text(script)
    server = subprocess.Popen([sys.executable, str(tmp_path / "server.py")], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    child = int(server.stdout.readline())
    os.kill(server.pid, signal.SIGKILL)  # at once: the job may not have started watching yet
    server.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(child, signal.SIGKILL)
    raise AssertionError("the job process outlived its server")


def test_a_loopback_server_answers_only_its_own_names_and_origins(tmp_path: Path, flair_bytes: bytes) -> None:
    """DNS rebinding (a foreign Host) and a foreign page's POST (a foreign Origin) are refused; the server's own
    pages work, with the security headers on every response."""
    from lesionwatch.web.security import LOOPBACK_HOSTS, SECURITY_HEADERS

    with TestClient(create_app(tmp_path, workers=0, allowed_hosts=LOOPBACK_HOSTS),
                    base_url="http://localhost:8765") as client:
        ok = client.get("/api/jobs")
        assert ok.status_code == 200 and all(ok.headers[k] == v for k, v in SECURITY_HEADERS.items())
        rebound = client.get("/api/jobs", headers={"host": "attacker.example:8765"})
        assert rebound.status_code == 421 and rebound.headers["X-Frame-Options"] == "DENY"
        foreign = client.post("/api/jobs", data={"kind": "segment"}, files={"flair": ("f.nii.gz", flair_bytes)},
                              headers={"origin": "http://attacker.example"})
        other_port = client.post("/api/jobs", data={"kind": "segment"}, files={"flair": ("f.nii.gz", flair_bytes)},
                                 headers={"origin": "http://localhost:9000"})
        assert foreign.status_code == other_port.status_code == 403
        assert list((tmp_path / "jobs").glob("*")) == []
        own = client.post("/api/jobs", data={"kind": "segment"}, files={"flair": ("f.nii.gz", flair_bytes)},
                          headers={"origin": "http://localhost:8765"})
        assert own.status_code == 201
        assert client.get("/api/jobs", headers={"host": "[::1]:8765"}).status_code == 200


@pytest.mark.parametrize("edge", [700, 30000])
def test_an_upload_declaring_too_many_voxels_is_refused_from_its_header(tmp_path: Path, edge: int) -> None:
    """A small file whose header declares a huge volume never reaches a job (700^3 drove one past 6 GB)."""
    import struct

    import nibabel as nib
    import numpy as np

    raw = nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4)).to_bytes()
    forged = raw[:40] + struct.pack("<8h", 3, edge, edge, edge, 1, 1, 1, 1) + raw[56:]
    with _client(tmp_path) as client:
        r = client.post("/api/jobs", data={"kind": "segment"}, files={"flair": ("a.nii", forged)})
        assert r.status_code == 413
        assert r.json()["detail"] == (f"study 1: the FLAIR file declares {edge} x {edge} x {edge} voxels "
                                      f"({edge ** 3:,}); the most accepted is {2 ** 27:,}")
    assert _job_folders(tmp_path) == []


def test_a_chunked_upload_past_the_limit_is_cut_off_with_413(tmp_path: Path, flair_bytes: bytes) -> None:
    """No Content-Length (chunked transfer): the body is counted as it streams and refused past the limit."""
    def body() -> object:
        boundary = b"--lwtest\r\n"
        yield boundary + b'Content-Disposition: form-data; name="kind"\r\n\r\nsegment\r\n'
        yield boundary + b'Content-Disposition: form-data; name="flair"; filename="f.nii.gz"\r\n\r\n'
        for _ in range(64):
            yield b"\0" * 65536
        yield b"\r\n--lwtest--\r\n"

    with TestClient(create_app(tmp_path, workers=0, max_request_bytes=1_000_000)) as client:
        r = client.post("/api/jobs", content=body(), headers={"content-type": "multipart/form-data; boundary=lwtest"})
        assert r.status_code == 413 and r.json()["detail"] == "upload too large"
        assert "content-length" not in {k.lower() for k in r.request.headers}
        assert client.post("/api/jobs", data={"kind": "segment"},
                           files={"flair": ("f.nii.gz", flair_bytes)}).status_code == 201  # under the limit
