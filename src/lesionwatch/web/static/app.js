"use strict";
// The job list and the upload form; everything goes through the REST API.
const studies = document.getElementById("studies");
let studyCount = 0;

function addStudy() {
  studyCount += 1;
  const k = studyCount;
  const div = document.createElement("div");
  div.className = "study";
  div.innerHTML = `<b>Study ${k}</b>
    FLAIR <input type="file" name="flair_${k}" accept=".nii,.gz">
    T1 <input type="file" name="t1_${k}" accept=".nii,.gz">
    or DICOM zip <input type="file" name="dicom_${k}" accept=".zip">`;
  studies.appendChild(div);
}
addStudy();
document.getElementById("add-study").onclick = addStudy;

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

document.getElementById("upload").onsubmit = async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  for (const [key, value] of [...form.entries()]) {
    if (value instanceof File && value.size === 0) form.delete(key);  // empty file inputs
  }
  const status = document.getElementById("upload-status");
  status.textContent = "uploading...";
  const response = await fetch("/api/jobs", {method: "POST", body: form});
  const body = await response.json();
  if (response.status === 409 && body.detail && body.detail.series) {
    status.textContent = body.detail.message;
    const choice = document.getElementById("series-choice");
    const k = body.detail.study;
    choice.innerHTML = `<label>FLAIR series of study ${k}: <select name="series_flair_${k}">` +
      body.detail.series.map(s => `<option value="${escapeHtml(s.uid)}">#${escapeHtml(s.number)} ${escapeHtml(s.description)} (${s.files} files)</option>`).join("") +
      `</select></label> then upload again.`;
    return;
  }
  if (!response.ok) {
    status.innerHTML = `<span class="error">${escapeHtml(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail))}</span>`;
    return;
  }
  status.textContent = `job ${body.id.slice(0, 8)} queued`;
  refresh();
};

async function act(id, what) {
  await fetch(`/api/jobs/${id}` + (what === "cancel" ? "/cancel" : ""), {method: what === "cancel" ? "POST" : "DELETE"});
  refresh();
}

async function refresh() {
  const response = await fetch("/api/jobs");
  if (!response.ok) return;
  const jobs = await response.json();
  const rows = jobs.map(j => {
    const link = j.status === "done" ? `<a href="/jobs/${j.id}">${j.id.slice(0, 8)}</a>` : j.id.slice(0, 8);
    const running = j.status === "queued" || j.status === "running";
    const buttons = (running ? `<button onclick="act('${j.id}','cancel')">cancel</button>` : "") +
      `<button onclick="act('${j.id}','delete')">delete</button>`;
    const err = j.error ? `<div class="error">${escapeHtml(j.error)}</div>` : "";
    return `<tr data-job="${j.id}" data-status="${j.status}"><td class="text">${link}</td><td class="text">${j.kind}</td>
      <td class="text">${j.status}${err}</td><td class="text">${escapeHtml(j.stage)}</td>
      <td><span class="bar"><div style="width:${Math.round(100 * j.progress)}%"></div></span></td><td>${buttons}</td></tr>`;
  });
  document.querySelector("#jobs tbody").innerHTML = rows.join("");
}
refresh();
setInterval(refresh, 1500);
