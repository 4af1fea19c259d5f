"""End to end in real headless Chromium (Playwright): upload a two-study case, wait, look, click, download."""

from __future__ import annotations

import io
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lesionwatch.io.nifti import write_nifti
from lesionwatch.synth import SynthConfig, generate_case

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def web_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("web")


@pytest.fixture(scope="module")
def server(web_root: Path) -> Iterator[str]:
    import uvicorn

    from lesionwatch.web.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(web_root, workers=1)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def _blue_pixels(png: bytes) -> int:
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(((b > r + 60) & (b > g + 40)).sum())  # the "stable lesion" colour, never grey or the red crosshair


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_upload_follow_up_view_click_and_download(server: str, web_root: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    case = generate_case(7, SynthConfig(spacing_mm=2.0, skull_stripped=True, lesion_count=(8, 10),
                                        lesion_volume_mm3=(100.0, 1500.0), sequences=("flair",)), timepoints=2)
    flairs = [write_nifti(tp.images["flair"], tmp_path / f"flair{i}.nii.gz") for i, tp in enumerate(case.timepoints)]
    shots = tmp_path / "shots"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox"])
        page = browser.new_page(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
        page.goto(server)
        page.check("input[name=kind][value=followup]")
        page.click("#add-study")
        page.set_input_files("input[name=flair_1]", str(flairs[0]))
        page.set_input_files("input[name=flair_2]", str(flairs[1]))
        page.select_option("select[name=method]", "classical")
        page.click("#submit")
        page.wait_for_selector("tr[data-status=done] a", timeout=400_000)
        page.screenshot(path=str(shots / "jobs.png"))
        page.click("tr[data-status=done] a")
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        time.sleep(1.0)
        canvas = page.locator("canvas.nv").first
        with_overlay = _blue_pixels(canvas.screenshot())
        page.fill("#opacity", "0")
        page.dispatch_event("#opacity", "input")
        time.sleep(0.5)
        without_overlay = _blue_pixels(canvas.screenshot())
        assert with_overlay > 50 and without_overlay < with_overlay / 10, (with_overlay, without_overlay)
        page.fill("#opacity", "0.7")
        page.dispatch_event("#opacity", "input")

        before = page.text_content("#coords")
        row = page.locator("tr.lesion").first
        target = [float(v) for v in row.get_attribute("data-mm").split(",")]
        row.click()
        time.sleep(0.5)
        after = page.text_content("#coords")
        assert after != before
        shown = [float(v) for v in after.split("=")[0].replace("×", " ").split()[:3]]
        assert np.allclose(shown, target, atol=2.0), (shown, target)  # the crosshair went to the lesion
        page.screenshot(path=str(shots / "followup.png"))

        interval = page.evaluate("fetch(api + '/result').then(r => r.json())")["summary"]["intervals"][0]
        active = interval["new_count"] + interval["enlarging_count"]
        assert active > 0  # the synthetic follow-up has new lesions to read
        assert page.text_content("#headline") == f"{interval['new_count']} new, {interval['enlarging_count']} " \
                                                 "enlarging since study1"
        pictures = page.locator("figure.reading img")
        assert pictures.count() == active
        assert all(pictures.nth(i).evaluate("img => img.naturalWidth") > 0 for i in range(active))
        page.locator("figure.reading").first.click()  # a reading moves the viewers to its lesion
        time.sleep(0.5)
        assert page.text_content("#coords") != after
        page.click("th[data-column=volume_mm3_study2]")
        page.click("th[data-column=volume_mm3_study2]")  # the second click sorts the largest first
        volumes = [float(v) for v in page.locator("#lesions tr.lesion td:nth-child(3)").all_text_contents()]
        assert volumes == sorted(volumes, reverse=True) and len(volumes) > 1

        with page.expect_download() as shot:
            page.click("#screenshot")
        assert shot.value.suggested_filename.endswith(".png")
        with page.expect_download() as report:
            page.click("a[href$='/download/report.pdf']")
        assert Path(report.value.path()).read_bytes()[:5] == b"%PDF-"
        with page.expect_download() as table:  # each study's files download under its own name
            page.click("a[href$='/download/study1/lesion_table.csv']")
        assert table.value.suggested_filename == "study1_lesion_table.csv"
        assert page.locator("figure.panel figcaption").all_text_contents() == ["study1: baseline",
                                                                              "study2: follow-up 1"]
        browser.close()
    # no result file names the server's folders or its command line
    texts = [p for p in (web_root / "jobs").rglob("result/**/*") if p.suffix in (".json", ".log", ".html", ".csv")]
    assert any(p.name == "provenance.json" for p in texts) and any(p.name == "lesionwatch.log" for p in texts)
    for path in texts:
        assert str(web_root) not in path.read_text(encoding="utf-8"), path


def _serve(app: object) -> tuple[object, threading.Thread, int]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    return srv, thread, port


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_a_page_from_another_origin_cannot_create_a_job(tmp_path: Path) -> None:
    """A web page the clinician opens elsewhere (here: another port of this machine) posts a job to the loopback
    server, as a cross-site request would: refused, nothing queued."""
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse
    from playwright.sync_api import sync_playwright

    from lesionwatch.web.app import create_app
    from lesionwatch.web.jobs import JobStore
    from lesionwatch.web.security import LOOPBACK_HOSTS

    lesionwatch = create_app(tmp_path / "web", workers=0, allowed_hosts=LOOPBACK_HOSTS)
    target, target_thread, port = _serve(lesionwatch)
    import base64

    case = generate_case(5, SynthConfig(spacing_mm=3.0, skull_stripped=True, sequences=("flair",)))
    flair = base64.b64encode(write_nifti(case.timepoints[0].images["flair"], tmp_path / "f.nii.gz").read_bytes())
    hostile = FastAPI()
    page_html = ("<script>const f = new FormData(); f.append('kind', 'segment');"
                 f"const bytes = Uint8Array.from(atob('{flair.decode()}'), c => c.charCodeAt(0));"
                 "f.append('flair', new Blob([bytes]), 'f.nii.gz');"
                 f"fetch('http://127.0.0.1:{port}/api/jobs', {{method: 'POST', body: f, mode: 'no-cors'}})"
                 ".then(() => document.title = 'sent', () => document.title = 'sent');</script>")
    hostile.get("/", response_class=HTMLResponse)(lambda: page_html)
    other, other_thread, other_port = _serve(hostile)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{other_port}/")
            page.wait_for_function("document.title === 'sent'", timeout=20000)
            browser.close()
        assert JobStore(tmp_path / "web").list() == []
    finally:
        for srv, thread in ((target, target_thread), (other, other_thread)):
            srv.should_exit = True  # type: ignore[attr-defined]
            thread.join(timeout=10)
