// The live preview: MJPEG stream, focus peaking, tap-to-zoom (a 1:1 crop of a full
// frame), the framing light and exposure auto/lock.
//
// The stream only runs while the Rig screen is shown and not zoomed: it costs the Pi
// CPU to encode and a phone's connection slot to hold open.

import { api } from "./api.js";
import { $, act, setPressed, toast } from "./ui.js";

const ZOOM_REFRESH_MS = 1500;
const ZOOM_SIZE = 480;

let active = false;
let peaking = false;
let zoom = null; // {x, y} fractions of the frame while zoomed
let zoomTimer = null;
let zoomUrl = null;
let frameSize = null; // full-resolution [w, h] from /api/status, to re-centre a zoom
let streamSerial = 0;

export function init() {
  $("#preview-img").addEventListener("click", onPreviewTap);
  $("#preview-img").addEventListener("error", onStreamError);
  $("#preview-img").addEventListener("load", () => $("#preview-msg").setAttribute("hidden", ""));
  $("#preview-retry").addEventListener("click", () => restart());
  $("#zoom-img").addEventListener("click", onZoomTap);
  $("#zoom-back").addEventListener("click", () => unzoom());
  $("#peaking").addEventListener("click", () => {
    peaking = !peaking;
    setPressed($("#peaking"), peaking);
    if (zoom) refreshZoom();
    else restart();
  });
  for (const id of ["#light-toggle", "#light-chip"]) {
    $(id).addEventListener("click", (e) => {
      const on = $(id).getAttribute("aria-pressed") === "true";
      const level = on ? 0 : Math.max(0.05, Number($("#light-level").value) / 100);
      setLight(e.currentTarget, level);
    });
  }
  $("#light-level").addEventListener("input", () => {
    $("#light-level-out").textContent = `${$("#light-level").value} %`;
  });
  $("#light-level").addEventListener("change", () => {
    setLight(null, Number($("#light-level").value) / 100);
  });
  for (const button of document.querySelectorAll("[data-exposure]")) {
    button.addEventListener("click", () =>
      act(button, "Exposure", async () => {
        const mode = button.dataset.exposure;
        const out = await api("/api/camera/exposure", { method: "POST", body: { mode } });
        showExposure(out.mode === "fixed");
        toast(mode === "lock" ? "Exposure locked" : "Exposure automatic", "ok");
      }),
    );
  }
}

function setLight(button, level) {
  return act(button, "Light", async () => {
    const light = await api("/api/camera/light", { method: "POST", body: { level } });
    showLight(light);
  });
}

export function showLight(light) {
  if (!light || light.available === false) return;
  setPressed($("#light-toggle"), light.on);
  setPressed($("#light-chip"), light.on);
  $("#light-toggle").textContent = light.on ? "Light on" : "Light off";
  if (light.on && light.level > 0) {
    $("#light-level").value = Math.round(light.level * 100);
    $("#light-level-out").textContent = `${$("#light-level").value} %`;
  }
}

function showExposure(locked) {
  for (const button of document.querySelectorAll("[data-exposure]")) {
    setPressed(button, (button.dataset.exposure === "lock") === locked);
  }
}

export function render(status) {
  const camera = status.camera || {};
  if (camera.resolution) frameSize = camera.resolution;
  if (camera.exposure) showExposure(camera.exposure.mode === "fixed");
  showLight(status.light);
}

// Called when the Rig screen is shown or hidden (and on login/logout).
export function setActive(on) {
  active = on;
  if (!on) {
    stopStream();
    clearTimeout(zoomTimer);
  } else if (zoom) {
    refreshZoom();
  } else {
    restart();
  }
}

// Open the stream again (after a reconnect the old one may have ended with the daemon).
export function restart() {
  if (!active || zoom) return;
  $("#preview-msg").setAttribute("hidden", "");
  streamSerial += 1;
  const params = new URLSearchParams({ peaking: String(peaking), s: String(streamSerial) });
  $("#preview-img").src = `/api/camera/preview.mjpg?${params}`;
}

function stopStream() {
  // Removing src makes the browser drop the multipart connection.
  $("#preview-img").removeAttribute("src");
}

async function onStreamError() {
  if (!active || zoom || !$("#preview-img").getAttribute("src")) return;
  // An <img> cannot say why it failed: ask for one frame to get the API's words (a 401
  // here also brings the login back).
  let why = "the preview stopped";
  try {
    await api("/api/camera/preview.jpg", { as: "blob" });
  } catch (err) {
    why = err.detail || why;
  }
  $("#preview-msg-text").textContent = `Preview unavailable: ${why}`;
  $("#preview-msg").removeAttribute("hidden");
}

// Where in the frame the user tapped, as 0–1 fractions (the image is letterboxed by
// object-fit: contain, so measure against the picture, not the element).
function tapFraction(img, event) {
  const box = img.getBoundingClientRect();
  const nw = img.naturalWidth || 4;
  const nh = img.naturalHeight || 3;
  const scale = Math.min(box.width / nw, box.height / nh);
  const w = nw * scale;
  const h = nh * scale;
  const left = box.left + (box.width - w) / 2;
  const top = box.top + (box.height - h) / 2;
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return { x: clamp((event.clientX - left) / w), y: clamp((event.clientY - top) / h) };
}

function onPreviewTap(event) {
  zoom = tapFraction($("#preview-img"), event);
  stopStream();
  $("#preview-full").setAttribute("hidden", "");
  $("#preview-zoom").removeAttribute("hidden");
  $("#zoom-img").removeAttribute("src");
  $("#zoom-msg").textContent = "Loading a full-resolution crop…";
  refreshZoom();
}

// Tapping the crop moves its centre there (the crop is ZOOM_SIZE px of the full frame).
function onZoomTap(event) {
  if (!zoom || !frameSize) return;
  const f = tapFraction($("#zoom-img"), event);
  const crop = Math.min(ZOOM_SIZE, frameSize[0], frameSize[1]);
  const clamp = (v) => Math.min(1, Math.max(0, v));
  zoom = {
    x: clamp(zoom.x + ((f.x - 0.5) * crop) / frameSize[0]),
    y: clamp(zoom.y + ((f.y - 0.5) * crop) / frameSize[1]),
  };
  refreshZoom();
}

export function unzoom() {
  zoom = null;
  clearTimeout(zoomTimer);
  $("#preview-zoom").setAttribute("hidden", "");
  $("#preview-full").removeAttribute("hidden");
  restart();
}

// One crop at a time: the next is asked for after this one arrived (a slow Pi never
// piles up requests), while zoomed and visible.
async function refreshZoom() {
  clearTimeout(zoomTimer);
  if (!zoom || !active) return;
  const asked = zoom;
  const params = new URLSearchParams({
    x: asked.x.toFixed(4),
    y: asked.y.toFixed(4),
    size: String(ZOOM_SIZE),
    peaking: String(peaking),
  });
  let wait = ZOOM_REFRESH_MS;
  try {
    const blob = await api(`/api/camera/zoom.jpg?${params}`, { as: "blob" });
    if (zoom !== asked && zoom) return; // re-centred meanwhile: that request is on its way
    if (zoomUrl) URL.revokeObjectURL(zoomUrl);
    zoomUrl = URL.createObjectURL(blob);
    $("#zoom-img").src = zoomUrl;
    $("#zoom-msg").textContent = `1:1 crop at ${Math.round(asked.x * 100)} %, ${Math.round(asked.y * 100)} % — tap to move, refreshes by itself`;
  } catch (err) {
    if (err.status === 401) return;
    $("#zoom-msg").textContent = err.status === 409 ? `Busy — ${err.detail}` : `No crop: ${err.detail}`;
    wait = ZOOM_REFRESH_MS * 2;
  }
  if (zoom && active) zoomTimer = setTimeout(refreshZoom, wait);
}
