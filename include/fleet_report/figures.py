"""Matplotlib drawings of the daily report: track maps without a tile server, KPI charts, small tables.

Each ``draw_*`` function draws on an Axes it is given, so the same drawing serves the one-page PNG of a
city (:func:`page_figure`) and the separate images embedded in the HTML (:func:`map_figure`,
:func:`charts_figure`). Maps are plain longitude / latitude plots with the latitude's aspect correction,
depot and city-zone outlines from ``bronze.geofences`` and a scale bar: readable offline, no tiles fetched.
"""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")  # no display: render to files only

from matplotlib import pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.gridspec import GridSpec  # noqa: E402

from fleet_report.data import ReportData  # noqa: E402

STATE_COLOURS = {"moving": "#2e7d32", "idle": "#ef6c00", "parked": "#1565c0", "offline": "#9e9e9e"}
PAGE_SIZE_IN = (8.27, 11.69)  # A4 portrait
PAGE_DPI = 110
MAX_BARS = 15
MAX_TABLE_ROWS = 8
#: Smallest map extent in degrees, so one parked vehicle still shows its surroundings.
MIN_SPAN_DEG = 0.02


def _vehicle_colour(index: int):
    return plt.get_cmap("tab20")(index % 20)


def _extent(data: ReportData) -> tuple[float, float, float, float] | None:
    lats = [x for t in data.tracks.values() for x in t.lats]
    lngs = [x for t in data.tracks.values() for x in t.lngs]
    lats += [v["last_lat"] for v in data.vehicles if v.get("last_lat") is not None]
    lngs += [v["last_lng"] for v in data.vehicles if v.get("last_lng") is not None]
    if not lats:
        return None
    lat0, lat1, lng0, lng1 = min(lats), max(lats), min(lngs), max(lngs)
    pad_lat = max((lat1 - lat0) * 0.08, MIN_SPAN_DEG / 2)
    pad_lng = max((lng1 - lng0) * 0.08, MIN_SPAN_DEG / 2)
    return lng0 - pad_lng, lng1 + pad_lng, lat0 - pad_lat, lat1 + pad_lat


def _scale_bar(ax, extent) -> None:
    """A round-number kilometre bar in the lower left corner."""
    lng0, lng1, lat0, lat1 = extent
    km_per_deg = 111.32 * math.cos(math.radians((lat0 + lat1) / 2))
    width_km = (lng1 - lng0) * km_per_deg
    target = width_km / 5
    bar_km = max(b for b in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200) if b <= max(target, 0.1))
    x = lng0 + (lng1 - lng0) * 0.05
    y = lat0 + (lat1 - lat0) * 0.05
    ax.plot([x, x + bar_km / km_per_deg], [y, y], color="black", linewidth=2.5, solid_capstyle="butt")
    ax.text(x, y + (lat1 - lat0) * 0.015, f"{bar_km:g} km", fontsize=7, va="bottom")


def _draw_geofences(ax, data: ReportData) -> None:
    for g in data.geofences:
        geometry = g["geometry"]
        polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
        for polygon in polygons:
            ring = polygon[0]
            style = ({"color": "black", "linewidth": 1.2} if g["kind"] == "depot"
                     else {"color": "#9e9e9e", "linewidth": 0.8, "linestyle": "--"})
            ax.plot([p[0] for p in ring], [p[1] for p in ring], **style, zorder=1)
            if g["kind"] == "depot":
                cx = sum(p[0] for p in ring) / len(ring)
                cy = sum(p[1] for p in ring) / len(ring)
                ax.plot(cx, cy, marker="s", color="black", markersize=5, zorder=4)


def draw_track_map(ax, data: ReportData, title: str | None = None) -> None:
    """The day's tracks, one colour per vehicle; idle fixes orange; the last position of vehicles that did
    not move as blue squares."""
    extent = _extent(data)
    ax.set_title(title or "Tracks of the day", fontsize=9, loc="left")
    if extent is None:
        ax.text(0.5, 0.5, "no positions on this day", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    _draw_geofences(ax, data)
    for i, imei in enumerate(sorted(data.tracks)):
        t = data.tracks[imei]
        if len(t.lngs) >= 2:
            points = list(zip(t.lngs, t.lats, strict=True))
            ax.add_collection(LineCollection([points], colors=[_vehicle_colour(i)], linewidths=1.1, zorder=2))
        idle = [(x, y) for x, y, s in zip(t.lngs, t.lats, t.states, strict=True) if s == "idle"]
        if idle:
            ax.scatter([p[0] for p in idle], [p[1] for p in idle], s=4, color=STATE_COLOURS["idle"], zorder=3)
    still = [v for v in data.not_moved if v.get("last_lat") is not None]
    if still:
        ax.scatter([v["last_lng"] for v in still], [v["last_lat"] for v in still], marker="s", s=14,
                   color=STATE_COLOURS["parked"], zorder=3, label="did not move")
    lng0, lng1, lat0, lat1 = extent
    ax.set_xlim(lng0, lng1)
    ax.set_ylim(lat0, lat1)
    ax.set_aspect(1 / math.cos(math.radians((lat0 + lat1) / 2)), adjustable="box")
    ax.tick_params(labelsize=6)
    ax.set_xlabel("longitude", fontsize=7)
    ax.set_ylabel("latitude", fontsize=7)
    ax.grid(color="#eeeeee", linewidth=0.5)
    _scale_bar(ax, (lng0, lng1, lat0, lat1))


def draw_km_bars(ax, vehicles: list[dict]) -> None:
    """km per vehicle (the top ones), with idle hours beside."""
    top = sorted(vehicles, key=lambda v: v["km"], reverse=True)[:MAX_BARS][::-1]
    ax.set_title(f"km per vehicle (top {len(top)})", fontsize=9, loc="left")
    ax.barh([v["vehicle"] for v in top], [v["km"] for v in top], color=STATE_COLOURS["moving"])
    ax.tick_params(labelsize=6)
    ax.set_xlabel("km", fontsize=7)


def draw_utilisation_bars(ax, vehicles: list[dict]) -> None:
    """Utilisation % (driving time / shift hours) per vehicle, the top ones."""
    top = sorted(vehicles, key=lambda v: v["utilisation_pct"], reverse=True)[:MAX_BARS][::-1]
    ax.set_title("utilisation % of shift", fontsize=9, loc="left")
    ax.barh([v["vehicle"] for v in top], [v["utilisation_pct"] for v in top], color="#6a1b9a")
    ax.tick_params(labelsize=6)
    ax.set_xlabel("%", fontsize=7)


def draw_idle_bars(ax, vehicles: list[dict]) -> None:
    """Idle hours (engine on, standing) per vehicle, the top ones."""
    top = sorted(vehicles, key=lambda v: v["idle_h"], reverse=True)[:MAX_BARS][::-1]
    ax.set_title("idle hours", fontsize=9, loc="left")
    ax.barh([v["vehicle"] for v in top], [v["idle_h"] for v in top], color=STATE_COLOURS["idle"])
    ax.tick_params(labelsize=6)
    ax.set_xlabel("h", fontsize=7)


def _short(text, width: int = 16) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def draw_table(ax, title: str, columns: list[str], rows: list[list], empty: str,
               col_widths: list[float] | None = None) -> None:
    ax.axis("off")
    ax.set_title(title, fontsize=9, loc="left")
    if not rows:
        ax.text(0, 0.85, empty, fontsize=7, transform=ax.transAxes)
        return
    shown = [[_short(cell) for cell in row] for row in rows[:MAX_TABLE_ROWS]]
    if len(rows) > len(shown):
        shown = shown + [[f"… {len(rows) - len(shown)} more"] + [""] * (len(columns) - 1)]
    table = ax.table(cellText=shown, colLabels=columns, loc="upper left", cellLoc="left", colLoc="left",
                     colWidths=col_widths)
    table.auto_set_font_size(False)
    table.set_fontsize(6.5)
    table.scale(1, 1.15)


def table_rows(data: ReportData) -> dict[str, tuple[list[str], list[list]]]:
    """The three small tables of a page, as display strings (shared by the PNG page and nothing else)."""
    not_moved = [[v["vehicle"], v["plate"] or "", v["city"],
                  v["last_fix_at"].strftime("%d %b %H:%M") if v.get("last_fix_at") else "never"]
                 for v in data.not_moved]
    alarms = [[a["alarm_name"], a["alarm_class"], a["city"], str(a["alarms"])] for a in data.alarms]
    silent = [[s["vehicle"], s["city"], s["bucket"],
               f"{s['silent_hours']:.0f} h" if s["silent_hours"] is not None else "never seen"]
              for s in data.silent]
    return {
        "not_moved": (["vehicle", "plate", "city", "last fix (UTC)"], not_moved),
        "alarms": (["alarm", "class", "city", "count"], alarms),
        "silent": (["vehicle", "city", "bucket", "silent for"], silent),
    }


def _headline(data: ReportData) -> str:
    t = data.totals()
    return (f"{t['vehicles']} vehicles · {t['km']:.0f} km · driving {t['driving_h']:.1f} h · idle {t['idle_h']:.1f} h"
            f" · utilisation {t['utilisation_pct']:.0f} % · idle cost {t['idle_cost']:,.0f}"
            f"\nnot moved {t['not_moved']} · alarms {t['alarms']} · silent devices {t['silent']}")


def page_figure(data: ReportData, title: str) -> Figure:
    """One report page (fleet summary or a city) as a single A4 figure."""
    fig = plt.figure(figsize=PAGE_SIZE_IN, dpi=PAGE_DPI)
    grid = GridSpec(4, 1, figure=fig, height_ratios=[0.08, 0.46, 0.22, 0.24], hspace=0.4,
                    left=0.1, right=0.97, top=0.97, bottom=0.02)
    head = fig.add_subplot(grid[0, 0])
    head.axis("off")
    head.text(0, 0.95, title, fontsize=13, weight="bold", va="top")
    head.text(0, 0.35, _headline(data), fontsize=8, va="top")
    if data.city is None and len(data.cities) > 1:
        sub = grid[1, 0].subgridspec(1, len(data.cities), wspace=0.3)
        for i, city in enumerate(data.cities):
            draw_track_map(fig.add_subplot(sub[0, i]), data.for_city(city), title=city)
    else:
        draw_track_map(fig.add_subplot(grid[1, 0]), data)
    charts = grid[2, :].subgridspec(1, 3, wspace=0.75)
    draw_km_bars(fig.add_subplot(charts[0, 0]), data.vehicles)
    draw_idle_bars(fig.add_subplot(charts[0, 1]), data.vehicles)
    draw_utilisation_bars(fig.add_subplot(charts[0, 2]), data.vehicles)
    tables = table_rows(data)
    bottom = grid[3, :].subgridspec(1, 3, wspace=0.08)
    draw_table(fig.add_subplot(bottom[0, 0]), "Not moved", *tables["not_moved"], empty="every vehicle moved",
               col_widths=[0.3, 0.26, 0.2, 0.28])
    draw_table(fig.add_subplot(bottom[0, 1]), "Top alarms", *tables["alarms"], empty="no alarms",
               col_widths=[0.38, 0.3, 0.2, 0.12])
    draw_table(fig.add_subplot(bottom[0, 2]), "Silent devices", *tables["silent"], empty="none silent",
               col_widths=[0.32, 0.22, 0.18, 0.28])
    return fig


def map_figure(data: ReportData) -> Figure:
    """The track map(s) alone, for the HTML page."""
    cities = data.cities if data.city is None else [data.city]
    fig = plt.figure(figsize=(4.2 * len(cities) if len(cities) > 1 else 8, 6), dpi=100)
    if len(cities) > 1:
        for i, city in enumerate(cities):
            draw_track_map(fig.add_subplot(1, len(cities), i + 1), data.for_city(city), title=city)
    else:
        draw_track_map(fig.add_subplot(1, 1, 1), data)
    fig.tight_layout()
    return fig


def charts_figure(data: ReportData) -> Figure:
    """km, idle hours and utilisation charts side by side, for the HTML page."""
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(12, 4.5), dpi=100)
    draw_km_bars(left, data.vehicles)
    draw_idle_bars(middle, data.vehicles)
    draw_utilisation_bars(right, data.vehicles)
    fig.tight_layout()
    return fig


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
