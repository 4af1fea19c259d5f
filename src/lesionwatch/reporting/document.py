"""The report as one self-contained HTML page (figures embedded as data URIs) and the same as PDF.

`ReportContent` holds everything shown; `render_html` turns it into a page and `render_pdf` prints that page
with WeasyPrint. No analysis happens here.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lesionwatch.errors import MissingDependencyError

DISCLAIMER = ("Research software. Not for clinical diagnosis: every result must be checked by a qualified reader "
              "against the images.")


@dataclass(frozen=True)
class Figure:
    """One picture of the report: a caption and PNG (or GIF) bytes."""

    caption: str
    data: bytes
    mime: str = "image/png"


@dataclass(frozen=True)
class Table:
    """A table of the report: a title, column names and rows of cells."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    note: str = ""


@dataclass(frozen=True)
class ReportContent:
    """What a report shows, in order.

    Attributes:
        title: page title ("Lesion segmentation", "Lesion follow-up").
        headline: the result in one line, shown first ("2 new, 1 enlarging since study1").
        identifiers: patient/study identifiers the input carried (BIDS subject/session, DICOM IDs), nothing more.
        acquisition: facts about the images (voxel size, sequences used).
        summary: headline numbers, label -> value.
        readings: a follow-up's new and enlarging lesions, one picture each (earlier and later study side by side).
        readings_note: what the readings leave out, if anything.
        figures: the pictures.
        tables: the lesion / change tables.
        warnings: automatic QC warnings.
        model: segmenter name, version and settings.
        provenance: package version, date, command.
    """

    title: str
    headline: str = ""
    identifiers: dict[str, str] = field(default_factory=dict)
    acquisition: dict[str, str] = field(default_factory=dict)
    summary: dict[str, str] = field(default_factory=dict)
    readings: Sequence[Figure] = ()
    readings_note: str = ""
    figures: Sequence[Figure] = ()
    tables: Sequence[Table] = ()
    warnings: Sequence[str] = ()
    model: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)


_CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; border-bottom: 1px solid #ccc; margin-top: 26px; }
.disclaimer { background: #fff4e5; border: 1px solid #f0b070; padding: 8px 12px; font-size: 13px; }
.warnings { background: #fdecec; border: 1px solid #e08080; padding: 8px 12px; font-size: 13px; }
.ok { background: #ecf8ec; border: 1px solid #80c080; padding: 8px 12px; font-size: 13px; }
table { border-collapse: collapse; font-size: 11px; margin: 6px 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #f2f2f2; } td.text, th.text { text-align: left; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; font-size: 13px; }
dt { font-weight: bold; } dd { margin: 0; }
figure { margin: 12px 0; page-break-inside: avoid; } figure img { max-width: 100%; }
figcaption { font-size: 12px; color: #555; } .hint { font-size: 12px; color: #555; }
.headline { font-size: 18px; font-weight: bold; margin: 10px 0; }
.readings { display: flex; flex-wrap: wrap; gap: 4px 16px; }
.readings figure { width: 48%; margin: 6px 0; }
th.sortable { cursor: pointer; }
@page { size: A4; margin: 14mm; }
@media print { body { max-width: none; margin: 0; }
  table { font-size: 7px; width: 100%; table-layout: fixed; } th, td { word-wrap: break-word; padding: 2px; } }
"""


def _definition_list(items: dict[str, str]) -> str:
    return "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>"
                            for k, v in items.items()) + "</dl>"


def _cell(value: Any) -> str:
    if value is None:
        return "<td></td>"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f'<td class="text">{html.escape(str(value))}</td>'
    return f"<td>{value:g}</td>" if isinstance(value, float) else f"<td>{value}</td>"


_SORTING = """<script>
document.querySelectorAll("table.sortable").forEach(table => {
  table.querySelectorAll("th").forEach((th, column) => {
    th.classList.add("sortable");
    th.onclick = () => {
      const body = table.tBodies[0], rows = Array.from(body.rows);
      const up = th.dataset.order !== "up";
      th.dataset.order = up ? "up" : "down";
      const key = r => { const t = r.cells[column].textContent, n = parseFloat(t); return isNaN(n) ? t : n; };
      rows.sort((a, b) => { const x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1); });
      rows.forEach(r => body.appendChild(r));
    };
  });
});
</script>"""
"""Click a table heading to sort by that column (again to reverse); the printed report ignores it."""


def _table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    if table.rows:
        body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in table.rows)
    else:
        body = f'<tr><td class="text" colspan="{len(table.columns)}">none</td></tr>'
    note = f"<p>{html.escape(table.note)}</p>" if table.note else ""
    return (f"<h2>{html.escape(table.title)}</h2>{note}<table class='sortable'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _figure(fig: Figure) -> str:
    data = base64.b64encode(fig.data).decode()
    return (f"<figure><img src='data:{fig.mime};base64,{data}' alt='{html.escape(fig.caption)}'>"
            f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>")


def render_html(content: ReportContent, *, still_images_only: bool = False) -> str:
    """The report as a self-contained HTML page (`still_images_only` leaves animations out, for print)."""
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(content.title)}"
             f"</title><style>{_CSS}</style></head><body>",
             f"<h1>lesionwatch: {html.escape(content.title)}</h1>",
             f"<p class='disclaimer'>{html.escape(DISCLAIMER)}</p>"]
    if content.headline:
        parts.append(f"<p class='headline'>{html.escape(content.headline)}</p>")
    if content.identifiers:
        parts += ["<h2>Study</h2>", _definition_list(content.identifiers)]
    if content.acquisition:
        parts += ["<h2>Acquisition</h2>", _definition_list(content.acquisition)]
    parts += ["<h2>Summary</h2>", _definition_list(content.summary)]
    if content.warnings:
        parts.append("<div class='warnings'><b>Quality-control warnings</b><ul>"
                     + "".join(f"<li>{html.escape(w)}</li>" for w in content.warnings) + "</ul></div>")
    else:
        parts.append("<div class='ok'>No automatic quality-control warnings.</div>")
    if content.readings or content.headline:
        parts.append("<h2>New and enlarging lesions</h2>")
    if content.readings:
        parts.append("<p class='hint'>Each lesion in the earlier (left) and the later study (right), axial, one window "
                     "and level for both; solid outline: the lesion in that study; dashed: where it is in the later "
                     "one.</p>")
        parts.append("<div class='readings'>" + "".join(_figure(f) for f in content.readings) + "</div>")
    elif content.headline:
        parts.append("<p>None.</p>")
    if content.readings_note:
        parts.append(f"<p>{html.escape(content.readings_note)}</p>")
    parts.append("<h2>Figures</h2>")
    for fig in content.figures:
        if still_images_only and fig.mime != "image/png":
            continue
        parts.append(_figure(fig))
    parts += [_table(t) for t in content.tables]
    if content.model:
        parts += ["<h2>Model</h2>", _definition_list(content.model)]
    if content.provenance:
        parts += ["<h2>Provenance</h2>", _definition_list(content.provenance)]
    if content.tables and not still_images_only:
        parts.append(_SORTING)
    parts.append("</body></html>")
    return "\n".join(parts)


def render_pdf(content: ReportContent) -> bytes:
    """The report as PDF (WeasyPrint), without the animations."""
    try:
        import weasyprint
    except ImportError as exc:
        raise MissingDependencyError.for_extra("pdf", "the PDF report") from exc
    return bytes(weasyprint.HTML(string=render_html(content, still_images_only=True)).write_pdf())
