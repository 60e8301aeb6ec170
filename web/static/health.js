// The stack health check on the page: a badge per stack (gallery, run screen), and a
// sheet with the findings, the frames and region of the one tapped, and a small chart
// per frame (share of the picture each frame is sharpest in, light, shift).  The chart
// is inline SVG built here: the rig has no internet and the page no libraries.

import { api } from "./api.js";
import { $, el, showError } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const KINDS = {
  order: "frames out of order",
  skipped: "frame left out",
  focus_gap: "focus gap",
  range: "range",
  light: "light",
  motion: "motion",
  vibration: "vibration",
};
// key, label, colour, the smallest range a curve spans (so noise stays flat), unit
const SERIES = [
  ["sharpest", "sharpest here", "var(--ok)", 0.2, (v) => `${Math.round(v * 100)} %`],
  ["light", "light", "var(--accent)", 0.1, (v) => `${v > 0 ? "+" : ""}${Math.round(v * 100)} %`],
  ["shift_px", "shift", "var(--danger)", 4, (v) => `${Math.round(v)} px`],
];

let job = null;
let report = null;
let live = new Map(); // job id → findings announced while it runs

export function init() {
  $("#health-close").addEventListener("click", close);
}

// The badge for a job: its stored verdict, or what was announced while it runs.
export function badge(j) {
  const h = j.health || liveSummary(j.id);
  if (!h) return null;
  const text = h.status === "ok" ? "health ok" : `${h.problems} ${h.status === "bad" ? "bad" : "warning"}${h.problems === 1 ? "" : "s"}`;
  return el("span", { class: `health-badge health-${h.status}`, title: "stack health" }, text);
}

function liveSummary(id) {
  const found = live.get(id);
  if (!found?.length) return null;
  const bad = found.some((f) => f.severity === "bad");
  return { status: bad ? "bad" : "warnings", problems: found.length };
}

// A `health` event: a finding the rest of the stack cannot change.
export function onEvent(event) {
  const list = live.get(event.job_id) || [];
  list.push(event.finding);
  live.set(event.job_id, list);
  return event.finding;
}

export async function open(j) {
  job = j;
  report = null;
  $("#health-title").textContent = `${j.name || "stack"} · health`;
  $("#health-verdict").replaceChildren(badge(j) || "");
  $("#health-msg").textContent = "Loading…";
  $("#health-findings").replaceChildren();
  $("#health-detail").hidden = true;
  $("#health-chart").replaceChildren();
  $("#health").hidden = false;
  const url = j.urls?.["report.json"];
  if (!url) {
    showLive(j);
    return;
  }
  try {
    report = await api(url);
  } catch (err) {
    showError(err, "Health");
    $("#health-msg").textContent = "No report for this stack.";
    return;
  }
  if (job !== j) return; // another one was opened meanwhile
  const health = report.health;
  if (!health) {
    $("#health-msg").textContent = "This stack was made before the health check existed: restack it.";
    return;
  }
  $("#health-verdict").replaceChildren(badge({ ...j, health }));
  showFindings(health.findings);
  $("#health-chart").replaceChildren(chart(health.frames, health.findings));
}

function showLive(j) {
  const found = live.get(j.id) || [];
  $("#health-msg").textContent = found.length
    ? "Found so far (the full report comes when the stack is done):"
    : "Nothing found so far; the full report comes when the stack is done.";
  $("#health-findings").replaceChildren(...found.map(findingItem));
}

function showFindings(findings) {
  $("#health-msg").textContent = findings.length
    ? "Tap a finding to see its frames."
    : "Nothing went wrong that the frames show: focus, range, light and steadiness look fine.";
  $("#health-findings").replaceChildren(...findings.map(findingItem));
}

function findingItem(f) {
  const button = el(
    "button",
    { type: "button", class: `finding sev-${f.severity}`, "aria-expanded": "false" },
    el("span", { class: `health-badge health-${f.severity === "info" ? "ok" : f.severity === "bad" ? "bad" : "warnings"}` }, f.severity),
    " ",
    el("strong", {}, KINDS[f.kind] || f.kind),
    " · ",
    frameText(f.frames),
    el("span", { class: "finding-summary" }, f.summary),
  );
  button.addEventListener("click", () => showDetail(f, button));
  return el("li", {}, button);
}

function frameText(frames) {
  return frames.length > 1 ? `frames ${frames[0]}–${frames[frames.length - 1]}` : `frame ${frames[0]}`;
}

function showDetail(f, button) {
  for (const b of document.querySelectorAll("#health-findings .finding")) b.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-expanded", "true");
  const detail = $("#health-detail");
  const frames = f.frames.length > 2 ? [f.frames[0], f.frames[f.frames.length - 1]] : f.frames;
  detail.replaceChildren(
    el("p", {}, el("strong", {}, "Measured: "), `${f.value} ${f.unit}`),
    el("p", { class: "advice" }, el("strong", {}, "What to change: "), f.advice),
    el("div", { class: "health-frames" }, ...frames.map((i) => frameFigure(i, f.region))),
    el("p", { class: "muted small" }, f.region ? "The box marks where in the picture it was found." : "It concerns the whole picture."),
  );
  detail.hidden = false;
  button.closest("li").after(detail);
  detail.scrollIntoView({ block: "nearest" });
}

function frameFigure(index, region) {
  const img = el("img", { src: `/api/jobs/${job.id}/frames/${index}`, alt: `frame ${index}`, loading: "lazy" });
  const box = region
    ? el("div", {
        class: "region",
        style: {
          left: `${region.x * 100}%`,
          top: `${region.y * 100}%`,
          width: `${region.w * 100}%`,
          height: `${region.h * 100}%`,
        },
      })
    : null;
  return el("figure", {}, el("div", { class: "frame-box" }, img, box), el("figcaption", { class: "small muted" }, `frame ${index}`));
}

// Per-frame curves, each scaled to its own range, frame index along the bottom; the
// frames a finding names are marked.
function chart(frames, findings) {
  const w = 340;
  const h = 150;
  const pad = { l: 8, r: 8, t: 8, b: 22 };
  const n = frames.length;
  const x = (i) => pad.l + (n > 1 ? (i / (n - 1)) * (w - pad.l - pad.r) : 0);
  const svg = document.createElementNS(SVG, "svg");
  attrs(svg, { viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": "per-frame chart: sharpest share, light, shift", class: "health-svg" });
  for (const f of findings) {
    if (f.severity === "info") continue;
    for (const i of f.frames.length > 2 ? [f.frames[0], f.frames[f.frames.length - 1]] : f.frames) {
      svg.append(node("rect", { x: x(i) - 3, y: pad.t, width: 6, height: h - pad.t - pad.b, class: "mark" }));
    }
  }
  const ranges = {};
  for (const [key, , colour, span] of SERIES) {
    const values = frames.map((r) => r[key]).filter((v) => v !== null && v !== undefined);
    if (!values.length) continue;
    let lo = Math.min(...values);
    let hi = Math.max(...values);
    ranges[key] = [lo, hi];
    if (hi - lo < span) {
      const mid = (hi + lo) / 2;
      [lo, hi] = [mid - span / 2, mid + span / 2];
    }
    const y = (v) => h - pad.b - ((v - lo) / (hi - lo)) * (h - pad.t - pad.b);
    const points = frames
      .filter((r) => r[key] !== null && r[key] !== undefined)
      .map((r) => `${x(r.index).toFixed(1)},${y(r[key]).toFixed(1)}`)
      .join(" ");
    svg.append(node("polyline", { points, fill: "none", stroke: colour, "stroke-width": 2, class: `line-${key}` }));
  }
  const ticks = n <= 1 ? [0] : [0, Math.floor((n - 1) / 2), n - 1];
  for (const i of ticks) {
    const t = node("text", { x: x(i), y: h - 6, "text-anchor": "middle", class: "tick" });
    t.textContent = String(i);
    svg.append(t);
  }
  const legend = el(
    "div",
    { class: "legend small" },
    ...SERIES.map(([key, label, colour, , unit]) =>
      el(
        "span",
        {},
        el("i", { style: { background: colour } }),
        ranges[key] ? `${label} ${unit(ranges[key][0])} … ${unit(ranges[key][1])}` : label,
      ),
    ),
    el("span", {}, el("i", { class: "mark" }), "finding"),
  );
  return el("div", {}, svg, legend, el("p", { class: "muted small" }, "Per frame: the share of the picture it is sharpest in, its light against the first frame, how far the picture moved; frame number along the bottom."));
}

function node(tag, a) {
  return attrs(document.createElementNS(SVG, tag), a);
}

function attrs(n, a) {
  for (const [k, v] of Object.entries(a)) n.setAttribute(k, String(v));
  return n;
}

function close() {
  $("#health").hidden = true;
  job = null;
}
