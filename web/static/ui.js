// Small DOM helpers, messages and number formatting shared by the screens.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

// el("button", {class: "x", onclick}, "text", child…): build nodes without innerHTML, so
// job names and error texts can never inject markup.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    // Through the CSSOM: the page's CSP (no 'unsafe-inline') refuses style attributes.
    else if (key === "style") Object.assign(node.style, value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// -- messages: errors stay until tapped or replaced, so nothing goes unnoticed at 2 a.m.
const TOAST_MS = { info: 4000, ok: 2500, error: 10000, busy: 8000 };

export function toast(text, kind = "info") {
  const box = $("#toasts");
  const item = el("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  item.addEventListener("click", () => item.remove());
  box.append(item);
  while (box.children.length > 3) box.firstElementChild.remove();
  setTimeout(() => item.remove(), TOAST_MS[kind] ?? 5000);
  return item;
}

// The API's own words; a 409 is labelled as "busy" so it reads as "wait", not "broken".
export function errorText(err) {
  if (err?.status === 409) return `Busy — ${err.detail}`;
  if (err?.detail) return err.detail;
  return `Something went wrong: ${err?.message || err}`;
}

export function showError(err, what = "") {
  if (err?.name === "AbortError") return;
  if (err?.status === 401) return; // the login form is shown instead
  const prefix = what ? `${what}: ` : "";
  toast(prefix + errorText(err), err?.status === 409 ? "busy" : "error");
}

// Run an action from a button: disabled while it runs (a double tap does nothing twice),
// any failure shown.  Returns the action's result, or undefined when it failed.
export async function act(button, what, action) {
  if (button?.disabled) return undefined;
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (err) {
    showError(err, what);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

export function setPressed(button, on) {
  button.setAttribute("aria-pressed", on ? "true" : "false");
}

// A confirm that matches the dark page (the native one is a bright flash at night).
export function confirmDialog(text, yes = "Delete") {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = text;
  $("#confirm-yes").textContent = yes;
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
  });
}

// -- formatting
export function mm(value, digits = 3) {
  return value === null || value === undefined ? "—" : `${Number(value).toFixed(digits)} mm`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

export function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${v.toFixed(v < 10 && i > 0 ? 1 : 0)} ${units[i]}`;
}

export function clock(epochSeconds) {
  if (!epochSeconds) return "—";
  const d = new Date(epochSeconds * 1000);
  const today = new Date();
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.toLocaleDateString([], { day: "numeric", month: "short" })} ${time}`;
}

export function stateBadge(state) {
  return el("span", { class: `badge state-${state}` }, state);
}
