// sspnet review page: chips sorted by score, accept/reject from the keyboard, decisions in localStorage,
// positions against the flight track, export of the confirmed detections as GeoJSON. No network unless the
// page was made with a tile URL.
"use strict";
(() => {
  const data = JSON.parse(document.getElementById("review-data").textContent);
  const dets = data.detections;
  const KEY = "sspnet-review:" + data.storage_key;
  const STATES = ["accepted", "rejected"];
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  let state = loadState();
  let filter = "all";
  let sel = -1;                       // index into dets of the selected detection, -1 = none

  function loadState() {
    try {
      const s = JSON.parse(localStorage.getItem(KEY) || "{}");
      return s && typeof s === "object" ? s : {};
    } catch (e) {
      return {};
    }
  }
  function saveState() { localStorage.setItem(KEY, JSON.stringify(state)); }
  const status = (d) => state[d.id] || "undecided";
  const visible = (i) => filter === "all" || status(dets[i]) === filter;
  const label = (d) => d.frame === null ? d.image : `${d.image} #${d.frame}`;

  // -- chips --------------------------------------------------------------------------------------------------------
  const grid = $("grid");
  const cells = dets.map((d, i) => {
    const fig = document.createElement("figure");
    fig.className = "chip";
    fig.dataset.id = d.id;
    const img = document.createElement("img");
    img.loading = "lazy";
    img.src = d.chip;
    img.alt = `detection ${d.score.toFixed(2)} in ${label(d)}`;
    img.width = img.height = data.chip_px;
    const cap = document.createElement("figcaption");
    cap.textContent = `${d.score.toFixed(2)} · ${label(d)}`;
    cap.title = label(d);
    fig.append(img, cap);
    fig.addEventListener("click", () => { select(i); openViewer(); });
    grid.append(fig);
    return fig;
  });
  if (!dets.length) grid.textContent = "No detections in this run.";

  function render() {
    const n = { accepted: 0, rejected: 0, undecided: 0 };
    dets.forEach((d, i) => {
      const s = status(d);
      n[s] += 1;
      const c = cells[i];
      c.classList.toggle("accepted", s === "accepted");
      c.classList.toggle("rejected", s === "rejected");
      c.classList.toggle("selected", i === sel);
      c.hidden = !visible(i);
    });
    $("counts").textContent = `${dets.length} detections: ${n.accepted} accepted, ${n.rejected} rejected, ` +
      `${n.undecided} undecided`;
    document.querySelectorAll("#filters button").forEach((b) => b.classList.toggle("on", b.dataset.filter === filter));
    renderDetail();
    renderMap();
    if (!$("viewer").hidden) renderViewer();
  }

  function select(i) {
    sel = i;
    render();
    if (sel >= 0) cells[sel].scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    if (!dets.length) return;
    let i = sel;
    for (let k = 0; k < dets.length; k++) {
      i += step;
      if (i < 0 || i >= dets.length) return;
      if (visible(i)) { select(i); return; }
    }
  }

  function decide(s) {
    if (sel < 0) return;
    const d = dets[sel];
    if (s === null) delete state[d.id]; else state[d.id] = s;
    saveState();
    const before = sel;
    if (s !== null) move(+1);            // a decision moves on; undo stays
    if (sel === before) render();        // (or the last one: stay, show the new state)
  }

  function setFilter(f) {
    filter = f;
    if (sel < 0 || !visible(sel)) {
      const first = dets.findIndex((_, i) => visible(i));
      sel = first;
    }
    select(sel);
  }

  // -- detail and frame viewer --------------------------------------------------------------------------------------
  function renderDetail() {
    const el = $("detail");
    if (sel < 0) { el.textContent = ""; return; }
    const d = dets[sel];
    const p = d.position;
    const where = p ? `${p.lat.toFixed(6)}, ${p.lon.toFixed(6)}` +
      (p.uncertainty_m === null ? "" : ` ± ${p.uncertainty_m} m`) : "no position";
    el.textContent = `${label(d)} · score ${d.score.toFixed(3)} · ${status(d)} · box [${d.box.join(", ")}] · ${where}`;
  }

  function openViewer() {
    if (sel < 0) return;
    $("viewer").hidden = false;
    renderViewer();
  }
  function closeViewer() { $("viewer").hidden = true; }

  function renderViewer() {
    const d = dets[sel];
    const img = $("viewer-img");
    if (d.frame_image && img.getAttribute("src") !== d.frame_image) img.src = d.frame_image;
    const boxes = $("viewer-boxes");
    boxes.setAttribute("viewBox", `0 0 ${d.width} ${d.height}`);
    boxes.replaceChildren();
    dets.forEach((o, i) => {
      if (o.path !== d.path || o.frame !== d.frame) return;   // the boxes of this frame
      const r = document.createElementNS(SVG, "rect");
      const [x1, y1, x2, y2] = o.box;
      const pad = Math.max(2, 0.004 * d.width);
      r.setAttribute("x", x1 - pad); r.setAttribute("y", y1 - pad);
      r.setAttribute("width", x2 - x1 + 2 * pad); r.setAttribute("height", y2 - y1 + 2 * pad);
      if (i !== sel) r.setAttribute("class", "other");
      boxes.append(r);
    });
    const own = boxes.querySelector("rect:not(.other)");
    if (own) boxes.append(own);            // the selected box on top
    $("viewer-caption").textContent = `${label(d)} · score ${d.score.toFixed(3)} · ${status(d)} · ` +
      `${d.width}×${d.height} · a accept · r reject · ←/→ next · Esc close`;
  }

  // -- map: Web Mercator pixels at one zoom, fitted to the data ------------------------------------------------------
  const MAP = 400, MARGIN = 30;
  const mercator = (lat, lon, z) => {
    const s = 256 * 2 ** z, r = lat * Math.PI / 180;
    return [(lon + 180) / 360 * s, (1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2 * s];
  };
  const points = data.track.concat(dets.filter((d) => d.position).map((d) => [d.position.lat, d.position.lon]));
  const view = fitView(points);

  function fitView(pts) {
    if (!pts.length) return null;
    const xy = pts.map(([la, lo]) => mercator(la, lo, 0));
    const xs = xy.map((p) => p[0]), ys = xy.map((p) => p[1]);
    const span = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
    const z = span > 0 ? Math.max(0, Math.min(21, Math.floor(Math.log2((MAP - 2 * MARGIN) / span)))) : 18;
    const k = 2 ** z;
    const cx = (Math.max(...xs) + Math.min(...xs)) / 2 * k, cy = (Math.max(...ys) + Math.min(...ys)) / 2 * k;
    const lat = pts.reduce((a, p) => a + p[0], 0) / pts.length;
    return { z, ox: cx - MAP / 2, oy: cy - MAP / 2, mpp: 156543.03392 * Math.cos(lat * Math.PI / 180) / k };
  }
  const toMap = (lat, lon) => { const [x, y] = mercator(lat, lon, view.z); return [x - view.ox, y - view.oy]; };

  function el(name, attrs, parent) {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    parent.append(e);
    return e;
  }

  function renderMap() {
    const map = $("map");
    if (!view) {
      map.style.display = "none";
      $("map-note").textContent = "No positions in this run (no camera pose found); chips and export work without.";
      return;
    }
    map.replaceChildren();
    if (data.tile_url) {
      const n = 2 ** view.z;
      for (let ty = Math.floor(view.oy / 256); ty <= Math.floor((view.oy + MAP) / 256); ty++) {
        if (ty < 0 || ty >= n) continue;
        for (let tx = Math.floor(view.ox / 256); tx <= Math.floor((view.ox + MAP) / 256); tx++) {
          const url = data.tile_url.replace("{z}", view.z).replace("{x}", ((tx % n) + n) % n).replace("{y}", ty);
          el("image", { href: url, x: tx * 256 - view.ox, y: ty * 256 - view.oy, width: 256, height: 256 }, map);
        }
      }
    }
    if (data.track.length) {
      const pts = data.track.map(([la, lo]) => toMap(la, lo));
      el("polyline", { class: "track", points: pts.map((p) => p.join(",")).join(" ") }, map);
      pts.forEach(([x, y]) => el("circle", { class: "cam", cx: x, cy: y, r: 1.5 }, map));
    }
    dets.forEach((d, i) => {
      if (!d.position || !visible(i)) return;
      const [x, y] = toMap(d.position.lat, d.position.lon);
      const r = Math.max(4, (d.position.uncertainty_m || 0) / view.mpp);
      const c = el("circle", { class: `det ${status(d)}${i === sel ? " selected" : ""}`, cx: x, cy: y, r }, map);
      c.addEventListener("click", () => select(i));
    });
    if (sel >= 0 && dets[sel].position) {         // the selected one on top
      const s = map.querySelector(".det.selected");
      if (s) map.append(s);
    }
    const target = view.mpp * 100, pow = 10 ** Math.floor(Math.log10(target));
    const metres = [5, 2, 1].map((m) => m * pow).find((m) => m <= target);
    const px = metres / view.mpp;
    el("line", { class: "scale", x1: 10, y1: MAP - 12, x2: 10 + px, y2: MAP - 12 }, map);
    el("text", { x: 10, y: MAP - 18 }, map).textContent = metres >= 1000 ? `${metres / 1000} km` : `${metres} m`;
    $("map-note").textContent = `${data.track.length} camera positions, ` +
      `${dets.filter((d) => d.position).length} placed detections` + (data.tile_url ? "" : " · no map tiles");
  }

  // -- export -------------------------------------------------------------------------------------------------------
  function exportGeoJSON() {
    const features = dets.filter((d) => status(d) === "accepted").map((d) => ({
      type: "Feature",
      geometry: d.position ? { type: "Point", coordinates: [d.position.lon, d.position.lat] } : null,
      properties: {
        id: d.id, score: d.score, image: d.image, path: d.path, frame: d.frame, pts: d.pts, box_xyxy: d.box,
        uncertainty_m: d.position ? d.position.uncertainty_m : null, chip: d.chip,
      },
    }));
    const doc = { type: "FeatureCollection", name: data.title, features };
    const blob = new Blob([JSON.stringify(doc, null, 1) + "\n"], { type: "application/geo+json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = data.export_name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }

  // -- input --------------------------------------------------------------------------------------------------------
  const KEYS = {
    ArrowRight: () => move(+1), j: () => move(+1), ArrowLeft: () => move(-1), k: () => move(-1),
    a: () => decide(STATES[0]), r: () => decide(STATES[1]), u: () => decide(null),
    Enter: openViewer, o: openViewer, Escape: closeViewer, e: exportGeoJSON,
  };
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const fn = KEYS[ev.key];
    if (!fn) return;
    ev.preventDefault();
    fn();
  });
  document.querySelectorAll("#filters button").forEach((b) => b.addEventListener("click", () => setFilter(b.dataset.filter)));
  $("export").addEventListener("click", exportGeoJSON);
  $("viewer").addEventListener("click", closeViewer);

  const firstOpen = dets.findIndex((d) => status(d) === "undecided");
  select(firstOpen >= 0 ? firstOpen : (dets.length ? 0 : -1));
  document.body.dataset.ready = "1";
})();
