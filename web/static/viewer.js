// The full-screen viewer for a result or its depth map: pinch to zoom, drag to pan,
// double-tap to switch between the whole picture and 100 % (one image pixel per CSS
// pixel), zoom buttons for one-handed use.
//
// The image is moved with one CSS transform (translate + scale), computed here from
// pointer events; the browser's own page zoom is off inside the viewer (touch-action).

import { api } from "./api.js";
import { $, setPressed } from "./ui.js";

const DOUBLE_TAP_MS = 320;
const TAP_SLOP_PX = 12;
const MAX_ZOOM = 4; // × the larger of fit and 100 %, to inspect single pixels

let job = null;
let name = null;
let objectUrl = null;
let natural = { w: 1, h: 1 };
let view = { s: 1, x: 0, y: 0 };
let fit = 1;
let atFit = true;
const pointers = new Map(); // pointerId → {x, y}
let gesture = null;
let lastTap = null;

export function init() {
  const stage = $("#viewer-stage");
  stage.addEventListener("pointerdown", down);
  stage.addEventListener("pointermove", move);
  stage.addEventListener("pointerup", up);
  stage.addEventListener("pointercancel", up);
  stage.addEventListener("wheel", wheel, { passive: false });
  // iOS Safari's own pinch (gesture events) would zoom the whole page instead.
  stage.addEventListener("gesturestart", (e) => e.preventDefault());
  $("#viewer-close").addEventListener("click", () => close());
  $("#viewer-fit").addEventListener("click", () => setFit());
  $("#viewer-100").addEventListener("click", () => zoomAt(1, centre()));
  $("#viewer-in").addEventListener("click", () => zoomAt(view.s * 1.6, centre()));
  $("#viewer-out").addEventListener("click", () => zoomAt(view.s / 1.6, centre()));
  for (const b of document.querySelectorAll("#viewer [data-view]")) {
    b.addEventListener("click", () => show(b.dataset.view));
  }
  $("#viewer-img").addEventListener("load", loaded);
  window.addEventListener("resize", () => {
    if (!$("#viewer").hidden) relayout();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("#viewer").hidden) close();
  });
  // The phone's back button closes the viewer instead of leaving the page.
  window.addEventListener("popstate", () => {
    if (!$("#viewer").hidden && !history.state?.viewer) close(false);
  });
}

export function open(theJob, which) {
  job = theJob;
  $("#viewer").hidden = false;
  document.body.classList.add("viewing");
  if (!history.state?.viewer) history.pushState({ viewer: true }, "", location.hash || "#");
  const outputs = job.outputs || Object.keys(job.urls || {});
  $("#viewer-depth").hidden = !outputs.includes("depth.png");
  $("#viewer-result").hidden = !outputs.includes("result.jpg");
  show(which);
}

export function close(goBack = true) {
  $("#viewer").hidden = true;
  document.body.classList.remove("viewing");
  $("#viewer-img").removeAttribute("src");
  if (objectUrl) URL.revokeObjectURL(objectUrl);
  objectUrl = null;
  pointers.clear();
  if (goBack && history.state?.viewer) history.back();
}

async function show(which) {
  name = which;
  for (const b of document.querySelectorAll("#viewer [data-view]")) setPressed(b, b.dataset.view === which);
  const depth = which === "depth.png";
  $("#viewer-title").textContent = `${job.name || "stack"} — ${depth ? "Depth map" : "Result"}`;
  $("#viewer-note").textContent = depth ? " · near = bright" : "";
  $("#viewer-download").href = `/api/jobs/${job.id}/${which}`;
  $("#viewer-download").setAttribute("download", `${job.id}-${which}`);
  $("#viewer-img").hidden = true;
  $("#viewer-msg").textContent = "Loading…";
  $("#viewer-msg").hidden = false;
  try {
    // fetch, not <img src>, so a missing file shows the API's reason
    const blob = await api(`/api/jobs/${job.id}/${which}?v=${job.finished || ""}`, { as: "blob" });
    if (name !== which) return;
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = URL.createObjectURL(blob);
    $("#viewer-img").src = objectUrl;
  } catch (err) {
    if (name === which) $("#viewer-msg").textContent = `Can't show ${which}: ${err.detail || err.message}`;
  }
}

function loaded() {
  const img = $("#viewer-img");
  natural = { w: img.naturalWidth, h: img.naturalHeight };
  img.style.width = `${natural.w}px`;
  img.style.height = `${natural.h}px`;
  img.hidden = false;
  $("#viewer-msg").hidden = true;
  $("#viewer-size").textContent = `${natural.w}×${natural.h}`;
  setFit();
}

function stageSize() {
  const box = $("#viewer-stage").getBoundingClientRect();
  return { w: box.width, h: box.height, left: box.left, top: box.top };
}

function centre() {
  const s = stageSize();
  return { x: s.w / 2, y: s.h / 2 };
}

function relayout() {
  const wasFit = atFit;
  fit = Math.min(stageSize().w / natural.w, stageSize().h / natural.h);
  if (wasFit) setFit();
  else apply();
}

function setFit() {
  const s = stageSize();
  fit = Math.min(s.w / natural.w, s.h / natural.h);
  view = { s: fit, x: 0, y: 0 };
  apply();
}

function limits() {
  return { min: Math.min(fit, 1), max: Math.max(fit, 1) * MAX_ZOOM };
}

// Zoom to `scale`, keeping the image point under `at` (stage coordinates) in place.
function zoomAt(scale, at) {
  const { min, max } = limits();
  const s = Math.min(max, Math.max(min, scale));
  const px = (at.x - view.x) / view.s;
  const py = (at.y - view.y) / view.s;
  view = { s, x: at.x - px * s, y: at.y - py * s };
  apply();
}

// Keep the picture on screen: centred when smaller than the stage, edges never
// pulled inside it when larger.
function clamp() {
  const { w, h } = stageSize();
  const iw = natural.w * view.s;
  const ih = natural.h * view.s;
  view.x = iw <= w ? (w - iw) / 2 : Math.min(0, Math.max(w - iw, view.x));
  view.y = ih <= h ? (h - ih) / 2 : Math.min(0, Math.max(h - ih, view.y));
}

function apply() {
  clamp();
  atFit = Math.abs(view.s - fit) < 1e-3;
  $("#viewer-img").style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.s})`;
  const percent = `${Math.round(view.s * 100)} %`;
  $("#viewer-zoom").textContent = atFit ? `fit (${percent})` : percent;
}

function local(e) {
  const s = stageSize();
  return { x: e.clientX - s.left, y: e.clientY - s.top };
}

function down(e) {
  e.preventDefault();
  $("#viewer-stage").setPointerCapture(e.pointerId);
  pointers.set(e.pointerId, local(e));
  startGesture();
}

// A new gesture whenever fingers are added or lifted: pan with one, pinch with two.
function startGesture() {
  const points = [...pointers.values()];
  if (points.length === 1) {
    gesture = { kind: "pan", start: points[0], view: { ...view }, moved: false };
  } else if (points.length >= 2) {
    const [a, b] = points;
    gesture = {
      kind: "pinch",
      distance: Math.hypot(a.x - b.x, a.y - b.y) || 1,
      mid: { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 },
      view: { ...view },
      moved: true,
    };
  } else {
    gesture = null;
  }
}

function move(e) {
  if (!pointers.has(e.pointerId) || !gesture) return;
  pointers.set(e.pointerId, local(e));
  const points = [...pointers.values()];
  if (gesture.kind === "pan") {
    const p = points[0];
    const dx = p.x - gesture.start.x;
    const dy = p.y - gesture.start.y;
    if (Math.hypot(dx, dy) > TAP_SLOP_PX) gesture.moved = true;
    view = { ...view, x: gesture.view.x + dx, y: gesture.view.y + dy };
    apply();
  } else if (points.length >= 2) {
    const [a, b] = points;
    const distance = Math.hypot(a.x - b.x, a.y - b.y);
    const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
    const { min, max } = limits();
    const s = Math.min(max, Math.max(min, (gesture.view.s * distance) / gesture.distance));
    // the image point under the fingers' first midpoint follows the midpoint
    const px = (gesture.mid.x - gesture.view.x) / gesture.view.s;
    const py = (gesture.mid.y - gesture.view.y) / gesture.view.s;
    view = { s, x: mid.x - px * s, y: mid.y - py * s };
    apply();
  }
}

function up(e) {
  if (!pointers.has(e.pointerId)) return;
  const wasTap = gesture?.kind === "pan" && !gesture.moved && pointers.size === 1;
  const at = local(e);
  pointers.delete(e.pointerId);
  startGesture();
  if (!wasTap) {
    lastTap = null;
    return;
  }
  const now = performance.now();
  if (lastTap && now - lastTap.time < DOUBLE_TAP_MS && Math.hypot(at.x - lastTap.x, at.y - lastTap.y) < 40) {
    lastTap = null;
    toggleZoom(at);
  } else {
    lastTap = { time: now, x: at.x, y: at.y };
  }
}

// Double tap: whole picture ↔ 100 %; for a picture smaller than the screen (100 % is
// less than fit), ↔ twice the fit.
function toggleZoom(at) {
  if (!atFit) {
    setFit();
    return;
  }
  zoomAt(fit < 0.99 ? 1 : fit * 2, at);
}

function wheel(e) {
  e.preventDefault();
  zoomAt(view.s * Math.exp(-e.deltaY / 300), local(e));
}
