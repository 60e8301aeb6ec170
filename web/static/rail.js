// The focus rail by hand: jog, home, stop, go to, go to the subject, and marking the
// stack's start/end.
//
// Moves run on in the daemon (202); the `rail` events say when they stop.  While a
// manual move runs the position is polled, so the number follows the carriage.

import { api } from "./api.js";
import { $, act, mm, toast } from "./ui.js";

const POLL_MS = 250;
const POLL_LIMIT_MS = 120000;

let pollUntil = 0;
let pollTimer = null;
let onMarksChanged = () => {};
let subject = null; // where the subject is sharp (status.subject), or null: not known
let railKnown = false;

export function init({ marksChanged }) {
  onMarksChanged = marksChanged;
  for (const button of document.querySelectorAll("[data-jog]")) {
    button.addEventListener("click", () =>
      move(button, "Jog", "/api/rail/jog", { mm: Number(button.dataset.jog) }),
    );
  }
  $("#rail-home").addEventListener("click", (e) => move(e.currentTarget, "Home", "/api/rail/home"));
  $("#rail-subject").addEventListener("click", (e) =>
    move(e.currentTarget, "Go to subject", "/api/rail/subject"),
  );
  // Stop is never disabled: it must work even while another request is slow.
  $("#rail-stop").addEventListener("click", async () => {
    try {
      show(await api("/api/rail/stop", { method: "POST" }));
    } catch (err) {
      toast(`Stop: ${err.detail}`, "error");
    }
  });
  $("#goto-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("#goto-mm").valueAsNumber;
    if (!Number.isFinite(value)) {
      toast("Go to: enter a position in mm", "error");
      return;
    }
    move($("#goto-go"), "Go to", "/api/rail/move", { mm: value });
  });
  for (const which of ["start", "end"]) {
    $(`#mark-${which}`).addEventListener("click", (e) =>
      act(e.currentTarget, `Set ${which}`, async () => {
        const marks = await api(`/api/rail/marks/${which}`, { method: "POST" });
        showMarks(marks); // the button shows the new value: no message needed
        onMarksChanged(marks);
      }),
    );
  }
}

async function move(button, what, path, body) {
  await act(button, what, async () => {
    show(await api(path, { method: "POST", body }));
    poll();
  });
}

// Follow the carriage until it stops (or the limit passes: a lost event must not leave
// a poll running forever).
function poll() {
  pollUntil = Date.now() + POLL_LIMIT_MS;
  clearTimeout(pollTimer);
  pollTimer = setTimeout(tick, POLL_MS);
}

async function tick() {
  try {
    const rail = await api("/api/rail");
    show(rail);
    if ((rail.moving || rail.busy_with) && Date.now() < pollUntil) {
      pollTimer = setTimeout(tick, POLL_MS);
    }
  } catch {
    // the rail event or the next status refresh will tell; don't spam errors from a poll
  }
}

export function show(rail) {
  if (!rail) return;
  if (rail.available === false) {
    $("#rail-pos").textContent = "—";
    $("#rail-state").textContent = `rail unavailable: ${rail.error || "no hardware"}`;
    $("#rail-state").className = "rail-state bad";
    return;
  }
  $("#rail-pos").textContent = mm(rail.position_mm);
  $("#top-pos").textContent = mm(rail.position_mm, 2);
  const known = rail.state === "known" || rail.known === true;
  let text;
  let cls;
  if (rail.moving) {
    text = "moving…";
    cls = "moving";
  } else if (!known) {
    text = "position unknown — press Home";
    cls = "bad";
  } else {
    text = "homed · position known";
    cls = "ok";
  }
  $("#rail-state").textContent = text;
  $("#rail-state").className = `rail-state ${cls}`;
  $("#top-pos").classList.toggle("unknown", !known);
  railKnown = known;
  showSubject();
  if (rail.soft_limits_mm) {
    const [lo, hi] = rail.soft_limits_mm;
    $("#goto-mm").min = lo;
    $("#goto-mm").max = hi;
    $("#goto-mm").placeholder = `${lo}–${hi}`;
  }
}

// At most one position request a second, however fast the frames come.
let refreshTimer = null;
export function refreshSoon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(async () => {
    try {
      show(await api("/api/rail"));
    } catch {
      // the status refresh reports problems
    } finally {
      refreshTimer = null;
    }
  }, 1000);
}

// A `rail` event: the manual move started or stopped (with the error if it failed).
export function onEvent(event) {
  if (event.state === "moving") {
    $("#rail-state").textContent = `${event.action}: moving…`;
    $("#rail-state").className = "rail-state moving";
    poll();
    return;
  }
  if (event.position_mm !== undefined) {
    show({ position_mm: event.position_mm, known: event.known, state: event.known ? "known" : "unknown", moving: false });
  }
  if (event.error) toast(`Rail — ${event.action} failed: ${event.error}`, "error");
}

// Lead a new user from "position unknown" to a sharp subject: Home first, then here.
export function setSubject(next) {
  subject = next || null;
  showSubject();
}

function showSubject() {
  $("#subject").hidden = !subject;
  if (!subject) return;
  const [near, far] = subject.range_mm;
  $("#rail-subject-val").textContent = mm(subject.focus_mm);
  $("#rail-subject").disabled = !railKnown;
  const where = subject.source === "marks" ? "between your marks" : "in the simulated scene";
  $("#rail-subject-hint").textContent = railKnown
    ? `The subject is sharp ${where}: ${Number(near).toFixed(1)}–${mm(far, 1)}.`
    : "Home the rail first, then go to the subject.";
}

export function showMarks(marks) {
  $("#mark-start-val").textContent = mm(marks?.start);
  $("#mark-end-val").textContent = mm(marks?.end);
}
