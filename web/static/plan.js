// The plan form: what to stack, checked live by the daemon (frames, time, disk), the
// depth-of-field helper, presets, and Start.
//
// The daemon is the judge of a plan: every change is sent to /api/plans/check and its
// problems are shown as it words them, so the page never second-guesses the rules.

import { api, newKey } from "./api.js";
import { $, $$, act, bytes, confirmDialog, duration, el, showError, toast } from "./ui.js";

const STORE_KEY = "macrorig.plan";
const CHECK_DELAY_MS = 250;
// A check the rig could not answer (Wi-Fi gone, rig busy restarting) is asked again: the
// form must not say "can't run" for ever about a plan nobody has changed.
const CHECK_RETRY_MS = 2000;

let checkTimer = null;
let checkSerial = 0;
let startKey = null; // kept across a retry after "no answer", so it cannot start twice
let recommendedStep = null;
let onStarted = () => {};
let onPresetsChanged = () => {};

export function init({ started, presetsChanged }) {
  onStarted = started;
  onPresetsChanged = presetsChanged;
  restore();
  const form = $("#plan-form");
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  // "Go" on the phone's keyboard must not start a stack: only the Start button does.
  form.addEventListener("submit", (e) => e.preventDefault());
  $("#plan-start-btn").addEventListener("click", start);
  $("#plan-led").addEventListener("input", showLed);
  $("#plan-use-marks").addEventListener("click", (e) =>
    act(e.currentTarget, "Marks", async () => {
      const status = await api("/api/status");
      if (status.marks?.start === undefined || status.marks?.end === undefined) {
        toast("Set start and end on the Rig screen first", "error");
      }
      setMarks(status.marks, true);
    }),
  );
  $("#dof-calc").addEventListener("click", (e) => act(e.currentTarget, "Depth of field", dof));
  $("#dof-use").addEventListener("click", () => {
    if (recommendedStep === null) return;
    $("#plan-step").value = recommendedStep;
    $("#spacing-step").checked = true;
    changed();
  });
  $("#preset-save").addEventListener("click", (e) => act(e.currentTarget, "Save preset", savePreset));
  $("#preset-load").addEventListener("click", (e) => act(e.currentTarget, "Load preset", loadPreset));
  $("#preset-delete").addEventListener("click", (e) =>
    act(e.currentTarget, "Delete preset", deletePreset),
  );
  showSpacing();
  showLed();
}

function showLed() {
  $("#plan-led-out").textContent = `${$("#plan-led").value} %`;
}

function showSpacing() {
  const byStep = $("#spacing-step").checked;
  $("#plan-step").disabled = !byStep;
  $("#plan-count").disabled = byStep;
  $("#plan-step-row").classList.toggle("off", !byStep);
  $("#plan-count-row").classList.toggle("off", byStep);
}

function changed() {
  showSpacing();
  startKey = null; // a different plan is a different request
  save();
  clearTimeout(checkTimer);
  checkTimer = setTimeout(check, CHECK_DELAY_MS);
}

function number(id) {
  const value = $(id).valueAsNumber;
  return Number.isFinite(value) ? value : null;
}

// The form as a StackPlan (only the fields the user controls; the rest keep defaults).
export function readPlan() {
  const plan = {
    name: $("#plan-name").value.trim(),
    start_mm: number("#plan-start"),
    end_mm: number("#plan-end"),
    settle_s: number("#plan-settle") ?? 0,
    shots_per_step: number("#plan-shots") ?? 1,
    led_level: Number($("#plan-led").value) / 100,
    return_to_start: $("#plan-return").checked,
    method: $("#plan-method").value,
    outputs: $$("input[name=output]:checked").map((box) => box.value),
    depth_map: $("#plan-depth").checked,
  };
  if ($("#spacing-step").checked) plan.step_um = number("#plan-step");
  else plan.count = number("#plan-count");
  return plan;
}

function fill(plan) {
  const set = (id, value) => {
    if (value !== undefined && value !== null) $(id).value = value;
  };
  set("#plan-name", plan.name);
  set("#plan-start", plan.start_mm);
  set("#plan-end", plan.end_mm);
  set("#plan-settle", plan.settle_s);
  set("#plan-shots", plan.shots_per_step);
  if (plan.led_level !== undefined) $("#plan-led").value = Math.round(plan.led_level * 100);
  if (plan.return_to_start !== undefined) $("#plan-return").checked = plan.return_to_start;
  set("#plan-method", plan.method);
  if (plan.outputs) {
    for (const box of $$("input[name=output]")) box.checked = plan.outputs.includes(box.value);
  }
  if (plan.depth_map !== undefined) $("#plan-depth").checked = plan.depth_map;
  if (plan.step_um) {
    $("#plan-step").value = plan.step_um;
    $("#spacing-step").checked = true;
  } else if (plan.count) {
    $("#plan-count").value = plan.count;
    $("#spacing-count").checked = true;
  }
  showSpacing();
  showLed();
}

// The form survives a reload (a phone drops background tabs freely).
function save() {
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify(readPlan()));
  } catch {
    // private mode: nothing to keep, nothing lost
  }
}

function restore() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
    if (saved) fill(saved);
  } catch {
    // a broken saved form is simply not restored
  }
}

// Marks from the rail: always taken when just set; at start-up only into empty fields.
export function setMarks(marks, force = false) {
  if (!marks) return;
  let touched = false;
  for (const [which, id] of [["start", "#plan-start"], ["end", "#plan-end"]]) {
    if (marks[which] === undefined) continue;
    // Never into the field being typed in: the status can arrive mid-keystroke ("12" + "12").
    if (force || ($(id).value === "" && document.activeElement !== $(id))) {
      $(id).value = marks[which];
      touched = true;
    }
  }
  if (touched) changed();
}

export function recheck() {
  clearTimeout(checkTimer);
  check();
}

async function check() {
  const serial = ++checkSerial;
  const plan = readPlan();
  // Half-filled: say what is missing rather than ask the daemon about it.
  const missing = [
    plan.start_mm === null && "start",
    plan.end_mm === null && "end",
    plan.count === null && "the number of frames",
    plan.step_um === null && "the step",
  ].filter(Boolean);
  if (missing.length) {
    $("#plan-frames").textContent = "Can't run this plan yet";
    $("#plan-estimate").textContent = "";
    $("#plan-problems").replaceChildren(el("li", {}, `Enter ${missing.join(" and ")}.`));
    $("#plan-summary").classList.add("bad");
    return;
  }
  try {
    const out = await api("/api/plans/check", { method: "POST", body: plan });
    if (serial !== checkSerial) return; // an older answer after a newer question
    $("#plan-frames").textContent = `${out.frames} frames`;
    const parts = [`about ${duration(out.estimated_s)}`, `${bytes(out.estimated_bytes)} on disk`];
    if (out.step_um) parts.push(`step ${out.step_um} µm`);
    $("#plan-estimate").textContent = parts.join(" · ");
    $("#plan-problems").replaceChildren();
    $("#plan-summary").classList.remove("bad");
  } catch (err) {
    if (serial !== checkSerial || err.status === 401) return;
    const transient = err.status === 0 || err.status === 429 || err.status >= 500;
    if (transient) {
      clearTimeout(checkTimer);
      checkTimer = setTimeout(check, CHECK_RETRY_MS);
    }
    $("#plan-frames").textContent = transient ? "Checking the plan…" : "Can't run this plan yet";
    $("#plan-estimate").textContent = "";
    const problems = err.problems?.length ? err.problems : [err.detail];
    $("#plan-problems").replaceChildren(...problems.map((p) => el("li", {}, p)));
    $("#plan-summary").classList.add("bad");
  }
}

async function start() {
  const button = $("#plan-start-btn");
  if (button.disabled) return; // a second tap while the first is on its way
  startKey ??= newKey();
  button.disabled = true;
  button.textContent = "Starting…";
  try {
    const job = await api("/api/jobs", {
      method: "POST",
      body: { plan: readPlan() },
      headers: { "Idempotency-Key": startKey },
    });
    startKey = null;
    toast(`Stack ${job.name} queued (${job.frames_planned} frames)`, "ok");
    onStarted(job);
  } catch (err) {
    if (err.status !== 0) startKey = null; // answered: a new tap is a new request
    showError(err, "Start");
    if (err.problems?.length) {
      $("#plan-problems").replaceChildren(...err.problems.map((p) => el("li", {}, p)));
    }
  } finally {
    button.disabled = false;
    button.textContent = "Start stack";
  }
}

async function dof() {
  const magnification = number("#dof-mag");
  const f_number = number("#dof-f");
  const out = await api("/api/plans/dof", { method: "POST", body: { magnification, f_number } });
  recommendedStep = out.step_um;
  $("#dof-result").textContent = `Depth of field ${out.dof_um} µm → step ${out.step_um} µm`;
  $("#dof-use").disabled = false;
}

// -- presets: a saved plan, needed for schedules
export function showPresets(presets) {
  const select = $("#preset-select");
  const current = select.value;
  select.replaceChildren(
    el("option", { value: "" }, presets.length ? "Choose a preset…" : "No presets yet"),
    ...presets.map((p) => el("option", { value: p.name }, p.name)),
  );
  if (presets.some((p) => p.name === current)) select.value = current;
}

async function savePreset() {
  const name = $("#preset-name").value.trim() || $("#plan-name").value.trim();
  if (!name) {
    toast("Give the preset a name", "error");
    $("#preset-name").focus();
    return;
  }
  await api(`/api/presets/${encodeURIComponent(name)}`, { method: "PUT", body: { plan: readPlan() } });
  toast(`Preset "${name}" saved`, "ok");
  await onPresetsChanged();
  $("#preset-select").value = name;
}

function chosenPreset() {
  const name = $("#preset-select").value;
  if (!name) toast("Choose a preset first", "error");
  return name;
}

async function loadPreset() {
  const name = chosenPreset();
  if (!name) return;
  const preset = await api(`/api/presets/${encodeURIComponent(name)}`);
  $("#plan-step").value = "";
  $("#plan-count").value = "";
  fill(preset.plan);
  changed();
  toast(`Preset "${name}" loaded`, "ok");
}

async function deletePreset() {
  const name = chosenPreset();
  if (!name || !(await confirmDialog(`Delete preset "${name}"?`))) return;
  await api(`/api/presets/${encodeURIComponent(name)}`, { method: "DELETE" });
  toast(`Preset "${name}" deleted`, "ok");
  await onPresetsChanged();
}
