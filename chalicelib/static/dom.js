// Small helpers every part of the page uses: building elements, announcing, formatting.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

export function announce(message) {
  // Cleared first so the same sentence twice is still spoken twice.
  const region = $("#announcer");
  region.textContent = "";
  setTimeout(() => {
    region.textContent = message;
  }, 50);
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return null;
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1048576) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

const SHORT = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const LONG = new Intl.DateTimeFormat(undefined, { dateStyle: "long", timeStyle: "medium" });

export function formatTime(iso, long = false) {
  return iso ? (long ? LONG : SHORT).format(new Date(iso)) : "";
}

export function timeElement(iso, long = false) {
  return iso
    ? element("time", { datetime: iso, title: formatTime(iso, true), text: formatTime(iso, long) })
    : "";
}

const CLOCK = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

// A second time of the same day as the first, without its date again.
export function laterTimeElement(iso, earlier) {
  if (!iso) return "";
  const sameDay = earlier && new Date(iso).toDateString() === new Date(earlier).toDateString();
  return sameDay
    ? element("time", {
        datetime: iso,
        title: formatTime(iso, true),
        text: CLOCK.format(new Date(iso)),
      })
    : timeElement(iso);
}

export function formatDuration(ms) {
  if (typeof ms !== "number") return "";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export async function copyText(text) {
  // The Clipboard API needs a secure context (https or localhost); fall back to a selection.
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = element("textarea", { class: "visually-hidden", readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    const done = document.execCommand("copy");
    area.remove();
    return done;
  }
}
