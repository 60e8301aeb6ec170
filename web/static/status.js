// The rig's health: the loud banners at the top (hardware error, low disk) and the
// Status screen (simulated or not, disk, CPU temperature, rail limits…).

import { $, bytes, duration, el } from "./ui.js";

const NIGHT_KEY = "macrorig.night";

export function init() {
  // Night red: only the page's colours turn red (not the photos), to keep the eyes
  // adapted to the dark.
  const night = localStorage.getItem(NIGHT_KEY) === "1";
  setNight(night);
  $("#night-toggle").addEventListener("click", () => {
    setNight(!document.documentElement.classList.contains("night"));
  });
}

function setNight(on) {
  document.documentElement.classList.toggle("night", on);
  $("#night-toggle").setAttribute("aria-pressed", on ? "true" : "false");
  try {
    localStorage.setItem(NIGHT_KEY, on ? "1" : "0");
  } catch {
    // not kept: fine
  }
}

export function render(s) {
  // Banners: these must be seen from any screen.
  const hw = $("#banner-hardware");
  hw.hidden = !s.hardware_error;
  hw.textContent = s.hardware_error ? `HARDWARE NOT AVAILABLE — ${s.hardware_error}. Stacks are refused until it is fixed.` : "";
  const db = $("#banner-database");
  db.hidden = !s.database_problem;
  db.textContent = s.database_problem ? `JOB DATABASE DAMAGED — ${s.database_problem}. No frame was deleted.` : "";
  const disk = s.disk || {};
  $("#banner-disk").hidden = !disk.low;
  $("#banner-disk").textContent = disk.low
    ? `Disk almost full: ${bytes(disk.free_bytes)} free. Delete old stacks in the Gallery before the next one.`
    : "";
  $("#top-sim").hidden = !s.simulated;

  const rail = s.rail || {};
  const camera = s.camera || {};
  const light = s.light || {};
  const rows = [
    ["Mode", s.simulated ? "Simulated bench (no hardware)" : "Hardware"],
    ["Hardware", s.hardware_error ? `ERROR: ${s.hardware_error}` : "OK", s.hardware_error ? "bad" : "ok"],
    [
      "Disk",
      disk.free_bytes !== undefined
        ? `${bytes(disk.free_bytes)} free of ${bytes(disk.total_bytes)}${disk.low ? " — LOW" : ""}`
        : "—",
      disk.low ? "bad" : "",
    ],
    ["CPU temperature", s.cpu_temperature_c != null ? `${s.cpu_temperature_c} °C` : "not available", s.cpu_temperature_c >= 80 ? "bad" : ""],
    [
      "Rail soft limits",
      rail.soft_limits_mm ? `${rail.soft_limits_mm[0]} – ${rail.soft_limits_mm[1]} mm` : "—",
    ],
    ["Rail", rail.available === false ? `unavailable: ${rail.error}` : `${rail.state || "—"}, ${rail.enabled ? "motor powered" : "motor off"}${rail.limit_min || rail.limit_max ? ", on a limit switch" : ""}`],
    ["Camera", camera.available === false ? `unavailable: ${camera.error}` : `${camera.kind || "—"}${camera.resolution ? `, ${camera.resolution.join("×")}` : ""}, exposure ${camera.exposure?.mode === "fixed" ? "locked" : "auto"}`],
    ["Light", light.available === false ? "unavailable" : light.on ? `on, ${Math.round(light.level * 100)} %` : "off"],
    ["Up for", duration(s.uptime_s)],
  ];
  $("#status-list").replaceChildren(
    ...rows.flatMap(([term, value, cls]) => [el("dt", {}, term), el("dd", { class: cls || "" }, value)]),
  );
}
