"""The FastAPI server: pages, the REST API they use (OpenAPI at /docs), and access control.

Run with `lesionwatch serve`. Listens on 127.0.0.1 by default; any other address needs an access token (generated
and printed at start, or given), sent as `Authorization: Bearer TOKEN`, or once as `?token=TOKEN` in the page
address (then kept in a cookie).
"""

from __future__ import annotations

import hmac
import importlib.resources
import io
import json
import logging
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from lesionwatch import __version__
from lesionwatch.io.nifti import read_labels
from lesionwatch.web.jobs import JOB_ID, JobRunner, JobStore
from lesionwatch.web.results import job_result
from lesionwatch.web.security import BodySizeLimit, RequestTooLargeError, host_name, secured
from lesionwatch.web.uploads import (
    UploadError,
    UploadLimits,
    store_upload,
)
from lesionwatch.workflows.layout import (
    LABELS_NAME,
    LESION_TABLE_NAME,
)
from lesionwatch.workflows.report import location_overlay as lesions_by_location

log = logging.getLogger(__name__)

DOWNLOAD_SUFFIXES = (".nii.gz", ".csv", ".json", ".pdf", ".html", ".png", ".gif", ".mp4", ".dcm")


def _static(name: str) -> str:
    return importlib.resources.files("lesionwatch.web").joinpath("static", name).read_text(encoding="utf-8")


def niivue_path() -> Path:
    """The NiiVue build that nilearn ships (version pinned by the nilearn requirement)."""
    import nilearn

    path = Path(nilearn.__file__).parent / "_assets" / "js" / "niivue.umd.js"
    if not path.is_file():
        raise RuntimeError("nilearn's NiiVue build is missing; reinstall nilearn")
    return path


SWAGGER_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon.png": "image/png"}


def swagger_ui_path() -> Path:
    """The Swagger UI build that fastapi-offline ships."""
    path = Path(str(importlib.resources.files("fastapi_offline").joinpath("static")))
    if not (path / "swagger-ui-bundle.js").is_file():
        raise RuntimeError("fastapi-offline's Swagger UI files are missing; reinstall fastapi-offline")
    return path


def create_app(data_dir: Path, *, token: str | None = None, workers: int = 1,
               limits: UploadLimits | None = None, max_request_bytes: int = 2 * 1024 ** 3,
               allowed_hosts: tuple[str, ...] | None = None) -> FastAPI:
    """The web application.

    Args:
        data_dir: where the job database and job folders live.
        token: access token required by every request (None: no token, for loopback use).
        workers: jobs run at the same time (each in its own process).
        limits: upload limits.
        max_request_bytes: largest request body accepted.
        allowed_hosts: host names the server answers to (`LOOPBACK_HOSTS` for a loopback server): a request for
            another Host (DNS rebinding) is refused, and so is a state-changing request whose Origin is another
            origin than the server's own (a web page elsewhere queueing jobs); None checks neither.
    """
    limits = limits or UploadLimits()
    store = JobStore(data_dir)
    runner = JobRunner(store, workers=workers)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner.start()
        yield
        runner.stop()

    app = FastAPI(title="lesionwatch", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="MS lesion segmentation and follow-up. Not for clinical diagnosis.")
    app.state.store, app.state.runner = store, runner
    app.add_middleware(BodySizeLimit, max_bytes=max_request_bytes)  # outermost: counts what is streamed

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        return secured(await checked(request, call_next))  # every answer, refusals included

    async def checked(request: Request, call_next: Any) -> Response:
        if allowed_hosts is not None:
            if host_name(request.headers.get("host", "")) not in allowed_hosts:
                return JSONResponse({"detail": "unknown host"}, status_code=421)
            origin = request.headers.get("origin")
            # a page of this server sends its own authority as Origin; any other page (another site, or another
            # port of this machine) does not
            if request.method not in ("GET", "HEAD", "OPTIONS") and origin is not None and \
                    origin.split("://", 1)[-1].rstrip("/").lower() != request.headers.get("host", "").lower():
                return JSONResponse({"detail": "cross-origin request refused"}, status_code=403)
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_request_bytes:
            return JSONResponse({"detail": "upload too large"}, status_code=413)
        query_token = request.query_params.get("token")
        if token is not None:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip() or \
                request.cookies.get("lw_token", "") or query_token or ""
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"detail": "access token required"}, status_code=401)
        try:
            response: Response = await call_next(request)
        except RequestTooLargeError:
            return JSONResponse({"detail": "upload too large"}, status_code=413)
        except Exception:
            log.exception("request %s failed", request.url.path)
            return JSONResponse({"detail": "internal error"}, status_code=500)
        if token is not None and query_token:
            response.set_cookie("lw_token", token, httponly=True, samesite="strict")
        return response

    @app.exception_handler(UploadError)
    async def upload_error(_: Request, exc: UploadError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

    def job_or_404(job_id: str) -> Any:
        if not JOB_ID.match(job_id):
            raise HTTPException(404, "no such job")
        try:
            return store.get(job_id)
        except KeyError:
            raise HTTPException(404, "no such job") from None

    # pages --------------------------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return _static("index.html")

    @app.get("/jobs/{job_id}", response_class=HTMLResponse, include_in_schema=False)
    def job_page(job_id: str) -> str:
        job_or_404(job_id)
        return _static("viewer.html")

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> Response:
        """The API's Swagger UI, from the installed package's files (no CDN: it works offline)."""
        return get_swagger_ui_html(openapi_url="/openapi.json", title="lesionwatch API",
                                   swagger_js_url="/static/docs/swagger-ui-bundle.js",
                                   swagger_css_url="/static/docs/swagger-ui.css",
                                   swagger_favicon_url="/static/docs/favicon.png",
                                   swagger_ui_parameters={"validatorUrl": None})  # no badge from swagger.io

    @app.get("/static/docs/{name}", include_in_schema=False)
    def docs_static(name: str) -> Response:
        if name not in SWAGGER_FILES:
            raise HTTPException(404, "not found")
        return FileResponse(swagger_ui_path() / name, media_type=SWAGGER_FILES[name])

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name == "niivue.umd.js":
            return FileResponse(niivue_path(), media_type="text/javascript")
        if name not in ("app.js", "viewer.js", "style.css"):
            raise HTTPException(404, "not found")
        media = "text/javascript" if name.endswith(".js") else "text/css"
        return Response(_static(name), media_type=media)

    # API ----------------------------------------------------------------------------------------------------
    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/api/jobs")
    def list_jobs() -> list[dict[str, Any]]:
        """Every job, newest first."""
        return [j.public() for j in store.list()]

    @app.post("/api/jobs", status_code=201)
    async def create_job(request: Request) -> dict[str, Any]:
        """Upload one study (kind=segment) or several (kind=followup) and queue the job.

        Form fields: `kind`; per study k (1-9, default 1): `flair_k` (NIfTI, required unless `dicom_k`), `t1_k`,
        `t2_k`, `pd_k` (NIfTI), or `dicom_k` (a zip of DICOM files) with optional `series_flair_k`,
        `series_t1_k` (series UID) to confirm which series is which; `method` (model or classical);
        `threshold` (0-1). A DICOM zip whose FLAIR cannot be told apart gets 409 with the series list.
        """
        form = await request.form(max_files=40, max_fields=60)
        kind = str(form.get("kind", "segment"))
        if kind not in ("segment", "followup"):
            raise UploadError("kind must be segment or followup")
        job_id = uuid.uuid4().hex
        folder = store.job_dir(job_id)
        try:
            params = await store_upload(form, folder, kind, limits)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return store.create(kind, params, job_id=job_id).public()

    @app.get("/api/jobs/{job_id}")
    def get_job(job_id: str) -> dict[str, Any]:
        return dict(job_or_404(job_id).public())

    @app.post("/api/jobs/{job_id}/cancel")
    def cancel_job(job_id: str) -> dict[str, Any]:
        job_or_404(job_id)
        if not runner.cancel(job_id):
            raise HTTPException(409, "the job has already finished")
        return dict(store.get(job_id).public())

    @app.delete("/api/jobs/{job_id}", status_code=204)
    def delete_job(job_id: str) -> Response:
        job_or_404(job_id)
        runner.cancel(job_id)
        store.delete(job_id)
        return Response(status_code=204)

    def result_files(job_id: str) -> dict[str, Path]:
        result = store.job_dir(job_id) / "result"
        if not result.is_dir():
            return {}
        return {p.relative_to(result).as_posix(): p for p in sorted(result.rglob("*"))
                if p.is_file() and p.name.endswith(DOWNLOAD_SUFFIXES) and not p.name.startswith(".")}

    @app.get("/api/jobs/{job_id}/result")
    def get_result(job_id: str) -> dict[str, Any]:
        """Summary, tables, figures and viewer volumes of a finished job."""
        job = job_or_404(job_id)
        if job.status != "done":
            raise HTTPException(409, f"the job is {job.status}")
        files = result_files(job_id)
        result = store.job_dir(job_id) / "result"
        return job_result(job.kind, result, files)

    @app.get("/api/jobs/{job_id}/download/{key:path}")
    def download(job_id: str, key: str) -> Response:
        """A result file, by its name in `result.downloads` (looked up, never joined into a path)."""
        job_or_404(job_id)
        path = result_files(job_id).get(key)
        if path is None:
            raise HTTPException(404, "no such file")
        # a follow-up holds one folder per study: "study1/lesion_table.csv" downloads as study1_lesion_table.csv
        return FileResponse(path, filename=key.replace("/", "_"))

    @app.get("/api/jobs/{job_id}/overlay/location.nii.gz")
    def location_overlay(job_id: str) -> Response:
        """The segment job's lesions coded by location (1 periventricular, 2 juxtacortical, 3 infratentorial,
        4 other white matter), on the native FLAIR grid."""
        job = job_or_404(job_id)
        files = result_files(job_id)
        if job.kind != "segment" or LABELS_NAME not in files:
            raise HTTPException(404, "no lesion labels for this job")
        labels = read_labels(files[LABELS_NAME])
        rows = json.loads(files[f"{LESION_TABLE_NAME}.json"].read_text())["rows"]
        codes = lesions_by_location(labels, rows)
        import nibabel as nib

        image = nib.Nifti1Image(codes.array, codes.affine)
        buffer = io.BytesIO()
        file_map = nib.Nifti1Image.make_file_map({"image": buffer, "header": buffer})
        image.to_file_map(file_map)
        import gzip

        return Response(gzip.compress(buffer.getvalue()), media_type="application/gzip")

    return app
