"""Render the daily fleet report: one HTML document, one PNG per page, and a PDF of the same pages.

Pages: the fleet summary first, then one per city (``devices.assigned_city``). The HTML is self-contained
(images inline as base64), so it reads the same from the object store, a mail attachment or a disk.
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from matplotlib import pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages

from fleet_report import figures
from fleet_report.data import ReportData

TEMPLATES = Path(__file__).resolve().parent / "templates"
#: Rows of the "top alarms" table in the HTML (the PNG page shows fewer).
TOP_ALARMS = 10


@dataclass(frozen=True)
class ReportFile:
    """One rendered file: its name under ``reports/{day}/``, MIME type and bytes."""

    name: str
    content_type: str
    body: bytes


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unassigned"


def _pages(data: ReportData) -> list[tuple[str, str, ReportData]]:
    """(anchor / file stem, title, data) of every page: the fleet first, then each city."""
    pages = [("fleet", "Fleet summary", data)]
    pages += [(f"city-{slug(city)}", city, data.for_city(city)) for city in data.cities]
    return pages


def _b64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


def render_html(data: ReportData, generated_at: datetime | None = None) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined)
    pages = []
    for anchor, title, page in _pages(data):
        pages.append({
            "anchor": anchor, "title": title, "totals": page.totals(), "vehicles": page.vehicles,
            "not_moved": page.not_moved, "alarms": page.alarms, "silent": page.silent,
            "map_png": _b64(figures.png_bytes(figures.map_figure(page))),
            "charts_png": _b64(figures.png_bytes(figures.charts_figure(page))),
        })
    return env.get_template("report.html.j2").render(
        day=data.day.isoformat(), day_label=data.day.strftime("%A %d %B %Y"),
        day_start=data.day_start.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        day_end=data.day_end.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        generated_at=(generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        pages=pages, top_alarms=TOP_ALARMS)


def render_report(data: ReportData, *, pdf: bool = True) -> list[ReportFile]:
    """Every file of one day's report: ``fleet_report.html``, ``<page>.png`` per page, ``fleet_report.pdf``."""
    files = [ReportFile("fleet_report.html", "text/html; charset=utf-8", render_html(data).encode("utf-8"))]
    pdf_buf = io.BytesIO()
    with PdfPages(pdf_buf) as pdf_pages:
        for stem, title, page in _pages(data):
            fig = figures.page_figure(page, f"{title} — {data.day.strftime('%a %d %b %Y')}")
            png = io.BytesIO()
            fig.savefig(png, format="png")
            if pdf:
                pdf_pages.savefig(fig)
            plt.close(fig)
            files.append(ReportFile(f"{stem}.png", "image/png", png.getvalue()))
    if pdf:
        files.append(ReportFile("fleet_report.pdf", "application/pdf", pdf_buf.getvalue()))
    return files


def write_files(files: list[ReportFile], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in files:
        path = directory / f.name
        path.write_bytes(f.body)
        paths.append(path)
    return paths
