// The gallery: past jobs with a thumbnail, state and error, downloads, and the actions
// that make sense for each (view, depth map, resume, restack, delete).

import { api } from "./api.js";
import { badge as healthBadge } from "./health.js";
import { $, act, clock, confirmDialog, el, stateBadge, toast } from "./ui.js";

const DOWNLOADS = [
  ["result.jpg", "JPG"],
  ["result.tif", "TIFF"],
  ["result.png", "PNG"],
  ["depth.png", "Depth"],
];
const LIMIT = 50;

let openViewer = () => {};
let openHealth = () => {};
let onChanged = () => {};

export function init({ open, health, changed }) {
  openViewer = open;
  openHealth = health;
  onChanged = changed;
  $("#gallery-refresh").addEventListener("click", (e) => act(e.currentTarget, "Gallery", refresh));
}

export async function refresh() {
  const jobs = await api(`/api/jobs?limit=${LIMIT}`);
  const list = $("#gallery-list");
  if (!jobs.length) {
    list.replaceChildren(el("li", { class: "muted" }, "No stacks yet. Plan one on the Plan screen."));
    return;
  }
  list.replaceChildren(...jobs.map(card));
}

function card(job) {
  const urls = job.urls || {};
  const thumbUrl = urls["preview.jpg"] || urls["result.jpg"];
  // The version tag changes when the job does, so a restacked/finished image is fetched anew.
  const tag = `v=${job.finished || job.frames_done}`;
  const thumb = thumbUrl
    ? el("img", { class: "thumb", src: `${thumbUrl}?${tag}`, alt: `${job.name} result`, loading: "lazy" })
    : el("div", { class: "thumb none" }, "no image");
  if (urls["result.jpg"]) {
    thumb.addEventListener("click", () => openViewer(job, "result.jpg"));
  }

  const actions = [];
  if (urls["result.jpg"]) actions.push(button("View", "primary", () => openViewer(job, "result.jpg")));
  if (urls["depth.png"]) actions.push(button("Depth map", "", () => openViewer(job, "depth.png")));
  if (urls["report.json"]) actions.push(button("Health", "health-open", () => openHealth(job)));
  if (job.resumable) {
    actions.push(
      button("Resume", "", (b) =>
        act(b, "Resume", async () => {
          await api(`/api/jobs/${job.id}/resume`, { method: "POST" });
          toast(`${job.name}: resumed`, "ok");
          await onChanged();
        }),
      ),
    );
  }
  if (job.restackable) {
    const method = el(
      "select",
      { class: "method", "aria-label": "Restack method" },
      el("option", { value: "pyramid" }, "pyramid"),
      el("option", { value: "depthmap" }, "depthmap"),
    );
    method.value = job.plan?.method === "depthmap" ? "depthmap" : "pyramid";
    actions.push(
      el(
        "span",
        { class: "joined" },
        button("Restack", "", (b) =>
          act(b, "Restack", async () => {
            const restack = await api(`/api/jobs/${job.id}/restack`, {
              method: "POST",
              body: { method: method.value },
            });
            toast(`Restacking as ${restack.id} (${method.value})`, "ok");
            await onChanged();
          }),
        ),
        method,
      ),
    );
  }
  if (job.final) {
    actions.push(
      button("Delete", "danger", (b) =>
        act(b, "Delete", async () => {
          const ok = await confirmDialog(
            `Delete "${job.name}" (${job.id}) with its frames and results? This cannot be undone.`,
          );
          if (!ok) return;
          await api(`/api/jobs/${job.id}/files`, { method: "DELETE" });
          toast(`${job.name} deleted`, "ok");
          await onChanged();
        }),
      ),
    );
  }

  const downloads = DOWNLOADS.filter(([name]) => urls[name]).map(([name, label]) =>
    el("a", { class: "download", href: urls[name], download: `${job.id}-${name}` }, label),
  );

  return el(
    "li",
    { class: "card job", dataset: { job: job.id } },
    el(
      "div",
      { class: "job-head" },
      thumb,
      el(
        "div",
        { class: "job-info" },
        el("strong", { class: "job-name" }, job.name || "stack"),
        el("div", {}, stateBadge(job.state), " ", healthBadge(job), job.kind === "restack" ? " restack" : ""),
        el("div", { class: "muted small" }, `${job.frames_done} of ${job.frames_planned} frames · ${clock(job.created)}`),
        el("div", { class: "muted small" }, job.id),
      ),
    ),
    job.error ? el("p", { class: "error" }, job.error) : null,
    downloads.length ? el("div", { class: "downloads" }, "Download: ", ...downloads) : null,
    el("div", { class: "actions" }, ...actions),
  );
}

function button(text, cls, onclick) {
  const b = el("button", { type: "button", class: cls }, text);
  b.addEventListener("click", () => onclick(b));
  return b;
}

// A `job_deleted` event from another phone or script.
export function removeCard(id) {
  document.querySelector(`#gallery-list [data-job="${CSS.escape(id)}"]`)?.remove();
}
