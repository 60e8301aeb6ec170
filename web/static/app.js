// The page's entry point: login, the five screens (tabs in the URL hash, so the phone's
// back button works), status refreshes and the live events that drive every screen.

import { api, onUnauthorized } from "./api.js";
import { Events } from "./events.js";
import * as gallery from "./gallery.js";
import * as health from "./health.js";
import * as plan from "./plan.js";
import * as preview from "./preview.js";
import * as progress from "./progress.js";
import * as rail from "./rail.js";
import * as schedules from "./schedules.js";
import * as statusView from "./status.js";
import { $, $$, act, showError, toast } from "./ui.js";
import * as viewer from "./viewer.js";

const TABS = ["rig", "plan", "run", "gallery", "status"];
const STATUS_EVERY_MS = 15000; // disk, temperature: slow-changing, but keep them honest

let loggedIn = false;
let wired = false;
let statusTimer = null;
let statusSoon = null;
let gallerySoon = null;

const events = new Events({
  handlers: {
    job: (e) => {
      progress.onJob(e.job);
      announce(e.job);
      refreshStatusSoon();
      refreshGallerySoon();
    },
    frame: (e) => {
      progress.onFrame(e);
      rail.refreshSoon(); // the stack moves the rail without rail events
    },
    fused: (e) => progress.onFused(e),
    health: (e) => {
      const finding = health.onEvent(e);
      toast(`Health: ${finding.summary}`, finding.severity === "bad" ? "error" : "info");
      progress.showHealth();
    },
    rail: (e) => rail.onEvent(e),
    marks: (e) => {
      rail.showMarks(e);
      plan.setMarks(e, true);
      refreshStatusSoon(); // on a real rig the marks say where the subject is
    },
    schedule: (e) => schedules.onEvent(e),
    light: (e) => {
      if (e.reason) toast(`Light ${e.on ? "on" : "off"}: ${e.reason}`, "info");
      refreshStatusSoon();
    },
    job_deleted: (e) => {
      gallery.removeCard(e.id);
      progress.onDeleted(e.id);
    },
  },
  onDown: () => {
    $("#banner-connection").hidden = false;
  },
  onUp: (wasDown) => {
    $("#banner-connection").hidden = true;
    // Whatever happened while the stream was down: ask again.
    refreshStatus().catch((err) => showError(err, "Status"));
    if (wasDown) {
      toast("Reconnected", "ok");
      preview.restart();
      if (currentTab() === "gallery") gallery.refresh().catch((err) => showError(err, "Gallery"));
    }
  },
  checkSession: async () => {
    try {
      await refreshStatus();
      return true;
    } catch (err) {
      return err.status !== 401; // not logged in: the login form is up, stop retrying
    }
  },
});

function announce(job) {
  const name = job.name || job.id;
  if (job.state === "done") toast(`${name}: done`, "ok");
  else if (job.state === "failed") toast(`${name} failed: ${job.error || "no reason given"}`, "error");
  else if (job.state === "interrupted") toast(`${name} interrupted: ${job.error || ""}`, "error");
}

// -- status
async function refreshStatus() {
  const s = await api("/api/status");
  statusView.render(s);
  rail.show(s.rail);
  rail.setSubject(s.subject);
  rail.showMarks(s.marks);
  plan.setMarks(s.marks);
  preview.render(s);
  progress.render(s);
  return s;
}

function refreshStatusSoon() {
  clearTimeout(statusSoon);
  statusSoon = setTimeout(() => refreshStatus().catch(() => {}), 200);
}

function refreshGallerySoon() {
  if (currentTab() !== "gallery") return; // refreshed when shown
  clearTimeout(gallerySoon);
  gallerySoon = setTimeout(() => gallery.refresh().catch((err) => showError(err, "Gallery")), 300);
}

async function refreshPresets() {
  const presets = await api("/api/presets");
  plan.showPresets(presets);
  schedules.showPresets(presets);
}

// -- screens
function currentTab() {
  const tab = location.hash.slice(1);
  return TABS.includes(tab) ? tab : "rig";
}

let shownTab = null;

function route() {
  const tab = currentTab();
  if (tab !== shownTab) {
    shownTab = tab;
    window.scrollTo(0, 0); // each screen opens at its top, not where the last one was
  }
  for (const section of $$("[data-screen]")) section.hidden = section.dataset.screen !== tab;
  for (const link of $$(".tabs a")) {
    if (link.dataset.tab === tab) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!loggedIn) return;
  preview.setActive(tab === "rig" && !document.hidden);
  if (tab === "gallery") gallery.refresh().catch((err) => showError(err, "Gallery"));
  if (tab === "run") schedules.refresh().catch((err) => showError(err, "Schedules"));
  if (tab === "plan") plan.recheck();
}

function go(tab) {
  if (location.hash !== `#${tab}`) location.hash = tab;
  else route();
}

// -- login
function showLogin(message = "") {
  loggedIn = false;
  events.stop();
  preview.setActive(false);
  clearInterval(statusTimer);
  viewer.close(false);
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message;
  $("#login-secret").focus();
}

async function enter() {
  $("#login").hidden = true;
  $("#app").hidden = false;
  loggedIn = true;
  if (!wired) wire();
  route();
  events.start();
  clearInterval(statusTimer);
  statusTimer = setInterval(() => {
    if (!document.hidden) refreshStatus().catch(() => {});
  }, STATUS_EVERY_MS);
  await Promise.all([
    refreshStatus().catch((err) => showError(err, "Status")),
    refreshPresets().catch((err) => showError(err, "Presets")),
  ]);
  // Nothing running: the Run screen shows the latest stack (after a reload, "how did
  // the last one turn out?").
  if (!progress.current()) {
    const [latest] = await api("/api/jobs?limit=1").catch(() => []);
    if (latest && !progress.current()) progress.track(latest);
  }
}

function wire() {
  wired = true;
  preview.init();
  rail.init({ marksChanged: (marks) => plan.setMarks(marks, true) });
  plan.init({
    started: (job) => {
      progress.track(job);
      go("run");
    },
    presetsChanged: refreshPresets,
  });
  progress.init({ open: viewer.open, health: health.open });
  schedules.init();
  gallery.init({ open: viewer.open, health: health.open, changed: () => gallery.refresh() });
  health.init();
  viewer.init();
  statusView.init();
  $("#logout").addEventListener("click", (e) =>
    act(e.currentTarget, "Log out", async () => {
      await api("/api/logout", { method: "POST" });
      showLogin("Logged out.");
    }),
  );
}

function boot() {
  onUnauthorized(() => {
    if (loggedIn) showLogin("Your session has ended (or the rig restarted): log in again.");
  });
  window.addEventListener("hashchange", route);
  document.addEventListener("visibilitychange", () => {
    if (!loggedIn) return;
    route(); // stop or restart the preview stream
    if (!document.hidden) refreshStatus().catch(() => {});
  });
  $("#login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = $("#login-submit");
    const secret = $("#login-secret").value;
    if (!secret) {
      $("#login-error").textContent = "Enter the API token or the password.";
      return;
    }
    button.disabled = true;
    $("#login-error").textContent = "";
    try {
      await api("/api/login", { method: "POST", body: { secret } });
      $("#login-secret").value = "";
      await enter();
    } catch (err) {
      $("#login-error").textContent = err.detail || String(err);
      $("#login-secret").select();
    } finally {
      button.disabled = false;
    }
  });
  // Already logged in (the cookie lives for weeks)?  Straight to the rig.
  api("/api/session")
    .then((session) => (session.logged_in ? enter() : showLogin("")))
    .catch((err) => showLogin(err.detail));
}

boot();
