// The Run screen's top half: the stack in progress — frame n of N, ETA, state, the
// fused image growing live — and the queue behind it.

import { api } from "./api.js";
import { badge as healthBadge } from "./health.js";
import { $, act, clock, duration, el, stateBadge, toast } from "./ui.js";

let job = null; // the job shown: the running one, or the last one seen to the end
let progress = null; // {frame, count, fused, eta_s, phase} of that job
let fusedLoading = false;
let fusedPending = null;
let openViewer = () => {};
let openHealth = () => {};

export function init({ open, health }) {
  openViewer = open;
  openHealth = health;
  const img = $("#run-fused");
  img.addEventListener("load", () => {
    img.removeAttribute("hidden");
    $("#run-fused-empty").setAttribute("hidden", "");
    nextFused();
  });
  img.addEventListener("error", () => {
    // asked for only once it exists (a deleted job's is gone): keep the placeholder
    nextFused();
  });
  $("#run-cancel").addEventListener("click", (e) =>
    act(e.currentTarget, "Cancel", async () => {
      if (!job) return;
      job = { ...job, ...(await api(`/api/jobs/${job.id}`, { method: "DELETE" })) };
      toast("Cancelling — the stack stops after the current frame", "info");
      show();
    }),
  );
  $("#run-resume").addEventListener("click", (e) =>
    act(e.currentTarget, "Resume", async () => {
      if (!job) return;
      track(await api(`/api/jobs/${job.id}/resume`, { method: "POST" }));
      toast("Resumed: it continues at its next frame", "ok");
    }),
  );
  $("#run-open").addEventListener("click", () => job && openViewer(job, "result.jpg"));
  $("#run-depth").addEventListener("click", () => job && openViewer(job, "depth.png"));
  $("#run-health").addEventListener("click", () => job && openHealth(job));
}

// The health badge and button: the job's verdict, or what was found so far.
export function showHealth() {
  if (!job) return;
  const b = healthBadge(job);
  $("#run-health-badge").replaceChildren(b || "");
  $("#run-health").hidden = !b;
}

// Show this job from now on (just started, or it became the running one).
export function track(next) {
  const other = !job || job.id !== next.id;
  if (other) {
    progress = null;
    fusedPending = null;
    fusedLoading = false; // a load cut short by removing src reports nothing
    $("#run-fused").setAttribute("hidden", "");
    $("#run-fused").removeAttribute("src");
    $("#run-fused-empty").removeAttribute("hidden");
  }
  job = { ...(other ? {} : job), ...next };
  // A finished job shown after a reload: its last fused image, if it has one.
  if (other && job.final && hasPreview(next)) loadFused("final");
  show();
}

export function render(status) {
  if (status.job) {
    track(status.job);
    if (status.progress?.job_id === status.job.id) {
      progress = status.progress;
      if (progress.preview) loadFused(progress.fused);
    }
  } else if (job && !job.final) {
    // It ended while we were not listening (reconnect): ask how.
    api(`/api/jobs/${job.id}`)
      .then((fresh) => onJob(fresh))
      .catch(() => {});
  }
  showQueue(status.queue || []);
  show();
}

export function onJob(summary) {
  const active = summary.state === "running" || summary.state === "stacking";
  if (job?.id === summary.id || active || !job) {
    track(summary);
    if (summary.state === "done" && hasPreview(summary)) loadFused("done");
  }
}

export function onFrame(event) {
  if (job?.id !== event.job_id) return;
  progress = { ...progress, ...event };
  show();
}

export function onFused(event) {
  if (job?.id !== event.job_id) return;
  const { fused, count, preview, stacked_on } = event;
  progress = { ...progress, fused, count, preview, stacked_on };
  if (event.preview) loadFused(event.fused); // the job's preview.jpg exists from now on
  show();
}

// Whether the job's fused image (preview.jpg) exists: a job from the API lists it in
// `urls`, a job event in `results`.
function hasPreview(j) {
  return Boolean(j.urls?.["preview.jpg"] || j.results?.includes("preview.jpg"));
}

// One image request at a time; the newest wins (fused events can come faster than a
// phone loads a JPEG).
function loadFused(tag) {
  if (!job) return;
  const url = `/api/jobs/${job.id}/preview.jpg?n=${tag}`;
  if (fusedLoading) {
    fusedPending = url;
    return;
  }
  fusedLoading = true;
  $("#run-fused").src = url;
}

function nextFused() {
  fusedLoading = false;
  if (fusedPending) {
    const url = fusedPending;
    fusedPending = null;
    fusedLoading = true;
    $("#run-fused").src = url;
  }
}

// Where the frames are being fused: here, on a Dask cluster (its scheduler's address), or
// here after all, with why the cluster was given up ("here (the cluster … is down)").
function fusingWhere(where) {
  if (!where || where === "here") return "fusing the last frames…";
  if (where.startsWith("here")) return `fusing the last frames ${where}…`;
  return `fusing the frames on the cluster ${where}…`;
}

function show() {
  const has = Boolean(job);
  $("#run-empty").hidden = has;
  $("#run-job").hidden = !has;
  updateTopBar();
  if (!has) return;
  const state = job.state;
  const final = job.final;
  $("#run-name").textContent = job.name || "stack";
  $("#run-id").textContent = job.id;
  $("#run-state").replaceChildren(stateBadge(state));

  const count = progress?.count || job.frames_planned || 0;
  const frame = final || state === "stacking" ? job.frames_done : (progress?.frame ?? job.frames_done ?? 0);
  const fused = progress?.fused ?? (state === "done" ? count : 0);
  $("#run-frames").textContent = `Frame ${frame} of ${count}`;
  $("#run-fused-count").textContent = state === "done" ? "" : `fused ${fused} of ${count}`;
  // The bar follows capture, then fusion while stacking.
  const done = state === "stacking" ? fused : frame;
  const fraction = count ? Math.min(1, done / count) : 0;
  $("#run-bar-fill").style.width = `${(state === "done" ? 1 : fraction) * 100}%`;
  $("#run-bar").setAttribute("aria-valuenow", String(Math.round(fraction * 100)));
  $("#run-bar").className = `bar state-${state}`;

  let eta = "";
  if (state === "queued") eta = "waiting to start";
  else if (state === "running") eta = progress?.eta_s != null ? `about ${duration(progress.eta_s)} left` : "starting…";
  else if (state === "stacking") eta = fusingWhere(progress?.stacked_on);
  else if (job.started && job.finished) eta = `took ${duration(job.finished - job.started)}, finished ${clock(job.finished)}`;
  $("#run-eta").textContent = eta;

  $("#run-error").textContent = job.error || "";
  $("#run-error").hidden = !job.error;
  $("#run-cancel").hidden = final;
  $("#run-resume").hidden = !job.resumable;
  const outputs = job.outputs || [];
  $("#run-open").hidden = !(state === "done" && outputs.includes("result.jpg"));
  $("#run-depth").hidden = !(state === "done" && outputs.includes("depth.png"));
  showHealth();
}

function updateTopBar() {
  const top = $("#top-run");
  if (job && !job.final) {
    const count = progress?.count || job.frames_planned;
    top.textContent = job.state === "running" ? `● ${progress?.frame ?? job.frames_done}/${count}` : `● ${job.state}`;
    top.hidden = false;
    $("#tab-run").classList.add("live");
  } else {
    top.hidden = true;
    $("#tab-run").classList.remove("live");
  }
}

function showQueue(queue) {
  const list = $("#queue-list");
  if (!queue.length) {
    list.replaceChildren(el("li", { class: "muted" }, "Nothing waiting."));
    return;
  }
  list.replaceChildren(
    ...queue.map((q) =>
      el(
        "li",
        { class: "row" },
        el("div", { class: "grow" }, el("strong", {}, q.name || "stack"), " ", stateBadge(q.state), el("div", { class: "muted small" }, `${q.frames_planned} frames · ${q.id}`)),
        el(
          "button",
          {
            class: "danger",
            type: "button",
            onclick: (e) =>
              act(e.currentTarget, "Cancel", async () => {
                await api(`/api/jobs/${q.id}`, { method: "DELETE" });
                toast(`${q.name || q.id} cancelled`, "ok");
              }),
          },
          "Cancel",
        ),
      ),
    ),
  );
}

// A `job_deleted` event: the job shown is gone (from here or another phone).
export function onDeleted(id) {
  if (job?.id !== id) return;
  job = null;
  progress = null;
  show();
}

export function current() {
  return job;
}
