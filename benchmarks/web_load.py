"""Load test of the web application on loopback: N concurrent uploads of small synthetic studies.

Usage:
    python benchmarks/web_load.py [--uploads 20] [--workers 1] [--method classical]

Starts `lesionwatch serve` on a free port (as a child process, data in a temporary folder), uploads N small
synthetic FLAIR studies (2 mm, skull-stripped) from N threads at once, then waits until every job has finished.
Prints a table: upload latency (median, max), jobs done / failed / lost, total wall time, and the peak memory of
the server and its job processes (sampled from /proc). Asserts nothing.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from lesionwatch.io.nifti import write_nifti
from lesionwatch.synth import SynthConfig, generate_case


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (MB), from /proc."""
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * 4096
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                pids += [int(c) for c in children]
        except (OSError, ValueError):
            continue
    return total / 2 ** 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--method", default="classical", choices=("classical", "model"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        files = []
        for i in range(args.uploads):
            case = generate_case(200 + i, SynthConfig(spacing_mm=2.0, skull_stripped=True, sequences=("flair",),
                                                      lesion_count=(4, 8)))
            files.append(write_nifti(case.timepoints[0].images["flair"], tmp / f"flair{i}.nii.gz").read_bytes())
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen([sys.executable, "-m", "lesionwatch", "-q", "serve", "--port", str(port),
                                   "--data-dir", str(tmp / "web"), "--workers", str(args.workers)])
        base = f"http://127.0.0.1:{port}"
        peak = [0.0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _tree_rss_mb(server.pid))
                time.sleep(0.5)

        threading.Thread(target=sample, daemon=True).start()
        try:
            for _ in range(100):
                try:
                    httpx.get(f"{base}/api/health", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            start = time.perf_counter()

            def upload(i: int) -> tuple[float, int, str]:
                t0 = time.perf_counter()
                r = httpx.post(f"{base}/api/jobs", data={"kind": "segment", "method": args.method},
                               files={"flair": ("f.nii.gz", files[i])}, timeout=120)
                return time.perf_counter() - t0, r.status_code, r.json().get("id", "")

            with ThreadPoolExecutor(args.uploads) as pool:
                results = list(pool.map(upload, range(args.uploads)))
            latencies = [r[0] for r in results]
            ids = {r[2] for r in results if r[1] == 201}
            while True:
                jobs = httpx.get(f"{base}/api/jobs", timeout=30).json()
                if all(j["status"] not in ("queued", "running") for j in jobs if j["id"] in ids):
                    break
                time.sleep(2)
            wall = time.perf_counter() - start
            known = {j["id"]: j["status"] for j in jobs}
        finally:
            stop.set()
            server.terminate()
            server.wait(timeout=30)
    done = sum(1 for i in ids if known.get(i) == "done")
    failed = sum(1 for i in ids if known.get(i) == "failed")
    lost = len(ids) - done - failed
    print("| uploads | accepted | upload latency median / max (s) | done | failed | lost | wall (s) | "
          "jobs / hour | peak memory, server + jobs (MB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.uploads} | {len(ids)} | {statistics.median(latencies):.2f} / {max(latencies):.2f} | {done} | "
          f"{failed} | {lost} | {wall:.0f} | {done / wall * 3600:.0f} | {peak[0]:.0f} |")


if __name__ == "__main__":
    main()
