"""``RUN/review.html``: one offline page over the chips of a detect run.

The page needs no network: its data is embedded as JSON, chips and frames are files beside it (``chips/``),
positions are drawn against the flight track in a local Web-Mercator plot built from the data itself. A tile URL
(``https://tiles.example/{z}/{x}/{y}.png``) is optional and only then fetched by the browser. Decisions live in
the browser's ``localStorage`` under the run's storage key, so a reviewer can close the page and resume; the
confirmed detections export as GeoJSON.

Input: the records of ``detections.jsonl`` (see ``sspnet.runtime.detect_run``); a record's optional ``camera``
({"lat", "lon"[, "time"]}) makes the flight track, its optional ``positions`` (one {"lat", "lon",
"uncertainty_m"} or null per box) place the detections.
"""
from __future__ import annotations

import html
import json
import math
import string
from pathlib import Path

from sspnet.manifest import atomic_write_bytes
from sspnet.review.chips import CHIP_PX

PAGE = "review.html"
ASSETS = Path(__file__).resolve().parent / "assets"     # review.html (template), review.css, review.js
TILE_FIELDS = ("{z}", "{x}", "{y}")


def check_tile_url(url: str | None) -> str | None:
    """None, or an http(s) URL template with {z}, {x} and {y}; anything else is a ValueError naming it."""
    if url is None:
        return None
    if not url.startswith(("http://", "https://")) or not all(f in url for f in TILE_FIELDS):
        raise ValueError(f"--tile-url '{url}': expected an http(s) URL with {{z}}, {{x}} and {{y}}, e.g. "
                         f"https://tile.openstreetmap.org/{{z}}/{{x}}/{{y}}.png")
    return url


def review_entries(records: list[dict]) -> list[dict]:
    """One entry per chip of the OK records, highest score first (ties by id: the order is reproducible)."""
    entries = []
    for rec in records:
        if rec.get("status") != "ok" or rec.get("type") == "video" or not rec.get("chips"):
            continue
        positions = rec.get("positions") or [None] * len(rec["chips"])
        for k, chip in enumerate(rec["chips"]):
            entries.append({
                "id": f"{rec['id']}_{k}", "chip": f"chips/{chip}", "score": round(float(rec["scores"][k]), 4),
                "image": rec["name"], "path": rec["path"], "frame": rec.get("frame"), "pts": rec.get("pts"),
                "box": [round(float(v), 1) for v in rec["boxes"][k]], "width": rec["width"],
                "height": rec["height"], "frame_image": f"chips/{rec['preview']}" if rec.get("preview") else None,
                "position": _position(positions[k] if k < len(positions) else None),
            })
    entries.sort(key=lambda e: (-e["score"], e["id"]))
    return entries


def flight_track(records: list[dict]) -> list[list[float]]:
    """[[lat, lon], ...] of the camera positions, by capture time when every record has one, else in order."""
    cams = [r["camera"] for r in records if isinstance(r.get("camera"), dict)
            and _finite(r["camera"].get("lat")) and _finite(r["camera"].get("lon"))]
    if cams and all(c.get("time") is not None for c in cams):
        cams = sorted(cams, key=lambda c: str(c["time"]))
    return [[round(float(c["lat"]), 7), round(float(c["lon"]), 7)] for c in cams]


def write_review(run_dir: str | Path, records: list[dict], *, title: str, storage_key: str,
                 tile_url: str | None = None) -> Path:
    """Write ``run_dir/review.html`` over ``records``; returns its path. Same records, same bytes."""
    data = {"version": 1, "title": title, "storage_key": storage_key, "tile_url": check_tile_url(tile_url),
            "chip_px": CHIP_PX, "export_name": f"{_slug(title)}-confirmed.geojson",
            "detections": review_entries(records), "track": flight_track(records)}
    page = render_page(data)
    out = Path(run_dir) / PAGE
    atomic_write_bytes(out, page.encode("utf-8"))
    return out


def render_page(data: dict) -> str:
    template = string.Template((ASSETS / "review.html").read_text(encoding="utf-8"))
    return template.substitute(
        title=html.escape(data["title"]), css=(ASSETS / "review.css").read_text(encoding="utf-8"),
        js=(ASSETS / "review.js").read_text(encoding="utf-8"), data=_script_json(data))


def _script_json(data: dict) -> str:
    """JSON that cannot end its <script> element: <, > and & escaped as \\u sequences."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _position(p) -> dict | None:
    if not isinstance(p, dict) or not (_finite(p.get("lat")) and _finite(p.get("lon"))):
        return None
    u = p.get("uncertainty_m")
    return {"lat": round(float(p["lat"]), 7), "lon": round(float(p["lon"]), 7),
            "uncertainty_m": round(float(u), 1) if _finite(u) else None}


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _slug(text: str) -> str:
    s = "".join(c if c.isalnum() or c in "-_" else "-" for c in text).strip("-")
    return s or "review"
