"use strict";
// The result page: NiiVue viewers (native FLAIR + lesions by location, or the studies of a follow-up side by side
// in their common space with change classes), the lesion table, summary, downloads and figures.
const jobId = location.pathname.split("/").pop();
const api = `/api/jobs/${jobId}`;
const LOCATION = {1: ["periventricular", [230, 25, 75]], 2: ["juxtacortical", [245, 130, 49]],
                  3: ["infratentorial", [60, 180, 75]], 4: ["other white matter", [67, 99, 216]]};
const CHANGE = {1: ["stable", [67, 99, 216]], 2: ["new", [230, 25, 75]], 3: ["enlarging", [245, 130, 49]],
                4: ["enlarging: growth", [255, 225, 25]], 5: ["shrinking", [66, 212, 244]], 6: ["resolved / lost", [145, 30, 180]]};
const viewers = [];

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

function labelColormap(classes) {
  const n = Math.max(...Object.keys(classes).map(Number)) + 1;
  const cmap = {R: [], G: [], B: [], A: [], I: [], labels: []};
  for (let i = 0; i < n; i++) {
    const c = classes[i];
    cmap.R.push(c ? c[1][0] : 0); cmap.G.push(c ? c[1][1] : 0); cmap.B.push(c ? c[1][2] : 0);
    cmap.A.push(c ? 255 : 0); cmap.I.push(i); cmap.labels.push(c ? c[0] : "");
  }
  return cmap;
}

async function makeViewer(flairUrl, overlayUrl, classes, caption) {
  const panel = document.createElement("figure");
  panel.className = "panel";
  const label = document.createElement("figcaption");
  label.textContent = caption;
  const box = document.createElement("div");
  box.className = "nvbox";  // NiiVue sizes its canvas to this box
  const canvas = document.createElement("canvas");
  canvas.className = "nv";
  box.appendChild(canvas);
  panel.append(label, box);
  document.getElementById("canvases").appendChild(panel);
  const nv = new niivue.Niivue({backColor: [0, 0, 0, 1], show3Dcrosshair: true, isRadiologicalConvention: true,
                                preserveDrawingBuffer: true});
  await nv.attachToCanvas(canvas);
  await nv.loadVolumes([{url: flairUrl, name: "flair.nii.gz"}, {url: overlayUrl, name: "overlay.nii.gz", opacity: 0.7}]);
  nv.volumes[1].setColormapLabel(labelColormap(classes));
  nv.setSliceType(classes === CHANGE ? nv.sliceTypeAxial : nv.sliceTypeMultiplanar);
  nv.updateGLVolume();
  nv.onLocationChange = (data) => { document.getElementById("coords").textContent = data.string; };
  viewers.push(nv);
  return nv;
}

function goTo(mm) {
  for (const nv of viewers) {
    nv.scene.crosshairPos = nv.mm2frac(mm);
    nv.updateGLVolume();
    nv.drawScene();
    nv.createOnLocationChange();
  }
}

// a table whose rows (one per lesion, with its centre in the viewers' space) move every viewer's crosshair there;
// a click on a heading sorts the rows by that column (again: the other way)
function clickableTable(columns, rows, order = {column: null, up: true}) {
  const key = v => (typeof v === "number" ? v : (isNaN(parseFloat(v)) ? String(v ?? "") : parseFloat(v)));
  const sorted = order.column === null ? rows : [...rows].sort((a, b) => {
    const x = key(a[order.column]), y = key(b[order.column]);
    return (x < y ? -1 : x > y ? 1 : 0) * (order.up ? 1 : -1);
  });
  const arrow = c => (c === order.column ? (order.up ? " ▲" : " ▼") : "");
  const head = "<tr>" + columns.map(c =>
    `<th class="text sortable" data-column="${escapeHtml(c)}">${escapeHtml(c)}${arrow(c)}</th>`).join("") + "</tr>";
  const body = sorted.map(r =>
    `<tr class="lesion" data-id="${r.lesion_id}" data-mm="${r.viewer_mm.join(",")}">` +
    columns.map(c => `<td class="text">${escapeHtml(r[c] ?? "")}</td>`).join("") + "</tr>");
  const el = document.getElementById("lesions");
  el.innerHTML = head + (body.length ? body.join("") :
    `<tr><td colspan="${columns.length}" class="text">no lesions</td></tr>`);
  el.querySelectorAll("th.sortable").forEach(th => th.onclick = () => {
    const column = th.dataset.column;
    clickableTable(columns, rows, {column, up: order.column === column ? !order.up : true});
  });
  el.querySelectorAll("tr.lesion").forEach(tr => tr.onclick = () => {
    el.querySelectorAll("tr.selected").forEach(x => x.classList.remove("selected"));
    tr.classList.add("selected");
    goTo(tr.dataset.mm.split(",").map(Number));
  });
}

// the reading view: every new and enlarging lesion, its crops in the earlier and later study side by side
function readingView(readings) {
  if (!readings.length) return;
  document.getElementById("readings-card").hidden = false;
  const el = document.getElementById("readings");
  el.innerHTML = readings.map((r, i) =>
    `<figure class="reading" data-index="${i}">` +
    (r.figure ? `<img src="${api}/download/${r.figure}" alt="${escapeHtml(r.caption)}">` :
                `<p class="hint">no picture (the report was not written)</p>`) +
    `<figcaption>${escapeHtml(r.caption)}</figcaption></figure>`).join("");
  el.querySelectorAll("figure.reading").forEach(f => f.onclick = () => goTo(readings[Number(f.dataset.index)].viewer_mm));
}

function lesionTable(table) {
  clickableTable(["lesion_id", "volume_mm3", "location", "max_diameter_mm", "mean_probability"], table.rows);
}

function changeTable(changes) {
  document.getElementById("lesions-title").textContent = "Lesions and their change (volumes in the common grid, mm³)";
  document.getElementById("lesions-note").textContent = "The studies are segmented together here, in the " +
    "common space and inside the brain every study shares, so a study's lesion count and volume can differ from " +
    "its segmentation on its own.";
  clickableTable(changes.columns, changes.rows);
}

function summaryList(result) {
  const s = result.summary;
  let items;
  if (result.kind === "segment") {
    items = {"lesions": s.lesion_count, "total volume (ml)": (s.lesion_volume_mm3 / 1000).toFixed(2),
             "McDonald regions": (s.dis_regions_involved || []).join(", ") || "none",
             "brain volume (ml)": s.brain_volume_mm3 ? (s.brain_volume_mm3 / 1000).toFixed(0) : "n/a"};
    for (const [k, v] of Object.entries(s.count_by_location || {})) items[`${k.replace("_", " ")} lesions`] = v;
  } else {
    items = {"studies": s.studies.join(" → ")};
    for (const i of s.intervals) {
      items[i.interval] = `${i.new_count} new, ${i.enlarging_count} enlarging, ${i.shrinking_count} shrinking, ` +
        `${i.resolved_count} resolved; volume ${(i.volume_change_mm3 >= 0 ? "+" : "")}${i.volume_change_mm3} mm³`;
    }
  }
  document.getElementById("summary").innerHTML = "<table>" + Object.entries(items).map(([k, v]) =>
    `<tr><th class="text">${escapeHtml(k)}</th><td class="text">${escapeHtml(v)}</td></tr>`).join("") + "</table>";
  const warnings = result.kind === "segment" ? (s.qc_warnings || []) :
    Object.entries(s.per_study || {}).flatMap(([n, st]) => (st.qc_warnings || []).map(w => `${n}: ${w}`));
  document.getElementById("warnings").innerHTML = warnings.length ?
    "<h3>QC warnings</h3><ul>" + warnings.map(w => `<li class="warn">${escapeHtml(w)}</li>`).join("") + "</ul>" : "";
}

function legend(classes) {
  document.getElementById("legend").innerHTML = Object.values(classes).map(([name, rgb]) =>
    `<span style="background:rgb(${rgb.join(",")})"></span>${escapeHtml(name)}`).join("");
}

async function main() {
  const response = await fetch(`${api}/result`);
  const result = await response.json();
  if (!response.ok) { document.getElementById("summary").textContent = result.detail; return; }
  document.getElementById("title").textContent = result.kind === "segment" ? "segmentation" : "follow-up";
  summaryList(result);
  document.getElementById("downloads").innerHTML = result.downloads.filter(d => !d.startsWith("figures/"))
    .map(d => `<a href="${api}/download/${d}" download>${escapeHtml(d)}</a>`).join("<br>");
  document.getElementById("figures").innerHTML = result.figures.map(f =>
    `<img class="fig" src="${api}/download/${f}" alt="${escapeHtml(f)}">`).join("");
  if (result.kind === "segment") {
    legend(LOCATION);
    lesionTable(result.lesions);
    await makeViewer(`${api}/download/${result.volumes.flair}`, `${api}/overlay/location.nii.gz`, LOCATION,
                     "FLAIR, lesions by location");
  } else {
    legend(CHANGE);
    document.getElementById("headline").textContent = result.headline;
    changeTable(result.changes);
    readingView(result.readings);
    document.getElementById("canvases").classList.add("pair");
    document.getElementById("view").value = "axial";
    for (const [i, study] of result.volumes.studies.entries()) {
      await makeViewer(`${api}/download/${study.flair}`, `${api}/download/${study.overlay}`, CHANGE,
                       `${study.name}: ${i === 0 ? "baseline" : `follow-up ${i}`}`);
    }
    for (const a of viewers) a.broadcastTo(viewers.filter(b => b !== a), {"2d": true, "3d": true});
  }
  document.body.dataset.ready = "1";
}

document.getElementById("opacity").oninput = (e) => {
  for (const nv of viewers) nv.setOpacity(1, Number(e.target.value));
};
document.getElementById("view").onchange = (e) => {
  const types = {multi: "sliceTypeMultiplanar", axial: "sliceTypeAxial", coronal: "sliceTypeCoronal",
                 sagittal: "sliceTypeSagittal", render: "sliceTypeRender"};
  for (const nv of viewers) nv.setSliceType(nv[types[e.target.value]]);
};
document.getElementById("screenshot").onclick = () => viewers[0] && viewers[0].saveScene("lesionwatch.png");
main().catch(err => { document.getElementById("summary").textContent = "could not load the result: " + err; });
