// Schedules: repeat a saved preset every N minutes, K times and/or until a time.

import { api } from "./api.js";
import { $, act, clock, confirmDialog, el, toast } from "./ui.js";

export function init() {
  $("#schedule-form").addEventListener("submit", (e) => {
    e.preventDefault();
    act($("#schedule-create"), "Schedule", create);
  });
}

export function showPresets(presets) {
  const select = $("#schedule-preset");
  const current = select.value;
  select.replaceChildren(
    ...(presets.length
      ? presets.map((p) => el("option", { value: p.name }, p.name))
      : [el("option", { value: "" }, "Save a preset on the Plan screen first")]),
  );
  if (presets.some((p) => p.name === current)) select.value = current;
}

export async function refresh() {
  const list = await api("/api/schedules");
  const ul = $("#schedule-list");
  if (!list.length) {
    ul.replaceChildren(el("li", { class: "muted" }, "No schedules."));
    return;
  }
  ul.replaceChildren(...list.map(item));
}

function item(s) {
  const limits = [];
  if (s.times) limits.push(`${s.runs} of ${s.times} runs`);
  else limits.push(`${s.runs} runs`);
  if (s.until) limits.push(`until ${clock(s.until)}`);
  if (s.skipped) limits.push(`${s.skipped} skipped`);
  const toggle = el("button", { type: "button" }, s.enabled ? "Pause" : "Enable");
  toggle.addEventListener("click", () =>
    act(toggle, "Schedule", async () => {
      await api(`/api/schedules/${s.id}`, { method: "PATCH", body: { enabled: !s.enabled } });
      await refresh();
    }),
  );
  const remove = el("button", { type: "button", class: "danger" }, "Delete");
  remove.addEventListener("click", () =>
    act(remove, "Delete schedule", async () => {
      if (!(await confirmDialog(`Delete the schedule for "${s.preset}"?`))) return;
      await api(`/api/schedules/${s.id}`, { method: "DELETE" });
      toast("Schedule deleted", "ok");
      await refresh();
    }),
  );
  return el(
    "li",
    { class: "card" },
    el(
      "div",
      {},
      el("strong", {}, s.preset),
      ` every ${s.every_min} min `,
      el("span", { class: `badge ${s.enabled ? "state-running" : ""}` }, s.enabled ? "on" : "paused"),
    ),
    el(
      "div",
      { class: "muted small" },
      limits.join(" · "),
      s.enabled && s.next_at ? ` · next ${clock(s.next_at)}` : "",
    ),
    // why the rig paused it: it stays paused until enabled again
    s.error ? el("div", { class: "error small" }, s.error) : "",
    el("div", { class: "actions" }, toggle, remove),
  );
}

function epoch(input) {
  // datetime-local is the phone's local time; the API wants epoch seconds
  return input.value ? new Date(input.value).getTime() / 1000 : undefined;
}

async function create() {
  const preset = $("#schedule-preset").value;
  if (!preset) {
    toast("Save a preset on the Plan screen first: a schedule repeats a preset", "error");
    return;
  }
  const body = { preset, every_min: $("#schedule-every").valueAsNumber };
  const times = $("#schedule-times").valueAsNumber;
  if (Number.isFinite(times)) body.times = times;
  const until = epoch($("#schedule-until"));
  if (until) body.until = until;
  const startAt = epoch($("#schedule-start"));
  if (startAt) body.start_at = startAt;
  await api("/api/schedules", { method: "POST", body });
  toast(`Scheduled "${preset}" every ${body.every_min} min`, "ok");
  await refresh();
}

// A `schedule` event: a slot started or was skipped (say why), or the schedule ended.
export function onEvent(event) {
  if (event.action === "skipped") toast(`Scheduled stack skipped: ${event.reason}`, "error");
  if (event.action === "paused") toast(`Schedule paused: ${event.reason}`, "error");
  refresh().catch(() => {});
}
