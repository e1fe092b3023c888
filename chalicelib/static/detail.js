// The detail dialog of one image: its pictures and facts, editing, downloading, renders to
// copy (a link or an <img srcset> snippet), replacing its content, its upload history, and
// deleting it. What changes here is told to the page through the hooks it was given.
import { api, linkOf, messageOf, path } from "./api.js";
import { $, announce, copyText, element, formatBytes, formatDuration, timeElement } from "./dom.js";
import { declaredType, failureLong, statusWord, typeList } from "./words.js";

const REFRESH_EVERY_MS = 60_000;
const HISTORY_PAGES = 5; // the user's log is read 100 rows a page, at most this many pages

let config = null;
let hooks = null;
let shown = null; // the image shown, as last read
let linksAt = 0;

export function configure(settings, callbacks) {
  config = settings;
  hooks = callbacks; // {changed(image), deleted(imageId), replace(image, upload, file), labelOf(image)}
  $("#detail-edit").addEventListener("submit", save);
  $("#detail-delete").addEventListener("click", remove);
  $("#detail-original").addEventListener("click", download);
  $("#render-form").addEventListener("submit", makeRender);
  $("#replace-input").addEventListener("change", replace);
  $("#replace-button").addEventListener("click", () => $("#replace-input").click());
  $("#history-toggle").addEventListener("toggle", () => {
    if ($("#history-toggle").open) loadHistory();
  });
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const copied = await copyText($(`#${button.dataset.copy}`).value);
      $("#render-message").textContent = copied ? "Copied." : "Select the text and copy it.";
    });
  }
  for (const selector of ["#detail-preview", "#detail-hd"])
    $(selector).addEventListener("error", renewLinks);
  $("#detail").addEventListener("close", () => {
    shown = null;
  });
}

export function current() {
  return shown;
}

const nameOf = (image) => image.title || image.filename;

function fact(name, value) {
  return value === null || value === undefined || value === ""
    ? []
    : [element("dt", { text: name }), element("dd", {}, value)];
}

function showLinks(image) {
  // The dialog's pictures and download link: presigned, so renewed when they expire.
  const links = image.links || {};
  const pictures = [
    ["#detail-preview", links.preview, `${nameOf(image)}, preview`],
    ["#detail-hd", links["hd-rotated"], `${nameOf(image)}, 1280 by 720, upside down`],
  ];
  for (const [selector, link, alt] of pictures) {
    const img = $(selector);
    img.closest("figure").hidden = !link;
    if (link) {
      img.src = link;
      img.alt = alt;
    } else img.removeAttribute("src");
  }
  $(".pictures").hidden = !links.preview && !links["hd-rotated"];
  linksAt = Date.now();
  const original = $("#detail-original");
  original.hidden = !links.original;
  if (links.original) original.href = links.original;
  $("#render-section").hidden = image.status !== "ready" && !links.original;
}

function fill(image) {
  shown = image;
  $("#detail-title").textContent = nameOf(image);
  showLinks(image);
  const variants = Object.entries(image.variants || {})
    .map(([name, v]) => `${name} ${v.width}×${v.height} ${v.format}`)
    .join(", ");
  $("#detail-facts").replaceChildren(
    ...fact("File", image.filename),
    ...fact("Status", hooks.labelOf(image)),
    ...fact("Why", image.status === "failed" ? failureLong(image.failure) : null),
    ...fact("Format", image.format ? image.format.toUpperCase() : null),
    ...fact("Dimensions", image.width ? `${image.width} × ${image.height} px` : null),
    ...fact("Size", formatBytes(image.bytes)),
    ...fact("Frames", image.frames > 1 ? String(image.frames) : null),
    ...fact("Variants", variants),
    ...fact("Owner", image.ownerName),
    ...fact("Created", timeElement(image.createdAt, true)),
    ...fact("Processed", timeElement(image.processedAt, true)),
    ...fact("Changed", timeElement(image.updatedAt, true)),
  );
  $("#detail-title-input").value = image.title || "";
  $("#detail-description").value = image.description || "";
  $("#history-toggle").open = false;
  $("#history").replaceChildren();
}

export async function open(imageId) {
  const got = await api("GET", `images/${path(imageId)}`);
  if (got.status === 404) {
    hooks.deleted(imageId);
    announce("That image no longer exists.");
    return;
  }
  if (!got.ok) {
    announce(messageOf(got));
    return;
  }
  fill(got.data);
  for (const id of ["detail-message", "render-message", "replace-message"])
    $(`#${id}`).textContent = "";
  $("#render-result").hidden = true;
  if (!$("#detail").open) $("#detail").showModal();
}

async function reread() {
  const latest = await api("GET", `images/${path(shown.id)}`);
  if (latest.ok) fill(latest.data);
  return latest;
}

async function save(event) {
  event.preventDefault();
  const image = shown;
  const changed = await api("PATCH", `images/${path(image.id)}`, {
    title: $("#detail-title-input").value,
    description: $("#detail-description").value,
    version: image.version,
  });
  if (changed.status === 409) {
    await reread();
    $("#detail-message").textContent =
      "Not saved: this image was changed elsewhere meanwhile. The latest version is shown; make your change again and save.";
    return;
  }
  if (!changed.ok) {
    $("#detail-message").textContent = `Not saved: ${messageOf(changed)}`;
    return;
  }
  fill({ ...image, ...changed.data, links: image.links });
  $("#detail-message").textContent = "Saved.";
  hooks.changed(changed.data);
}

async function remove() {
  const image = shown;
  if (!window.confirm(`Delete ${nameOf(image)}? This cannot be undone.`)) return;
  const deleted = await api("DELETE", `images/${path(image.id)}`);
  if (deleted.status !== 204 && deleted.status !== 404) {
    $("#detail-message").textContent = `Not deleted: ${messageOf(deleted)}`;
    return;
  }
  $("#detail").close();
  hooks.deleted(image.id);
  announce(`${nameOf(image)} was deleted.`);
}

async function fetchBytes(href) {
  try {
    const response = await fetch(href);
    return response.ok ? await response.blob() : null;
  } catch {
    return null;
  }
}

async function download(event) {
  // A cross-origin link ignores the download attribute, so fetch the bytes and save them from
  // a same-origin blob under the original file name. An expired link is renewed once; the
  // page never navigates away.
  event.preventDefault();
  const image = shown;
  let bytes = await fetchBytes(event.currentTarget.href);
  if (!bytes) {
    const fresh = await api("GET", `images/${path(image.id)}`);
    if (fresh.ok && fresh.data.links?.original) {
      showLinks(fresh.data);
      bytes = await fetchBytes(fresh.data.links.original);
    }
  }
  if (!bytes) {
    $("#detail-message").textContent = "The original could not be downloaded; try again.";
    return;
  }
  const blob = URL.createObjectURL(bytes);
  const save = element("a", { href: blob, download: image.filename, hidden: true });
  document.body.append(save);
  save.click();
  save.remove();
  setTimeout(() => URL.revokeObjectURL(blob), 10_000);
}

async function renewLinks() {
  // A preview that fails to load in an open dialog has most likely outlived its link.
  const image = shown;
  if (!image || Date.now() - linksAt < REFRESH_EVERY_MS) return;
  linksAt = Date.now();
  const fresh = await api("GET", `images/${path(image.id)}`);
  if (fresh.ok && shown && shown.id === image.id) showLinks(fresh.data);
}

// --- renders ---------------------------------------------------------------------------

function renderQuery(width, height) {
  const query = new URLSearchParams();
  if (width) query.set("w", String(width));
  if (height) query.set("h", String(height));
  const fit = $("#render-fit").value;
  if (fit !== "contain") query.set("fit", fit);
  query.set("format", $("#render-format").value);
  return query;
}

async function makeRender(event) {
  event.preventDefault();
  const message = $("#render-message");
  const width = Number($("#render-width").value) || 0;
  const height = Number($("#render-height").value) || 0;
  if (!width && !height) {
    message.textContent = "Give a width, a height, or both.";
    return;
  }
  if ($("#render-fit").value !== "contain" && !(width && height)) {
    message.textContent = "Crop and stretch need both a width and a height.";
    return;
  }
  message.textContent = "Making the render…";
  const base = `images/${path(shown.id)}/render`;
  const one = await linkOf(`${base}?${renderQuery(width, height)}`);
  if (one.error) {
    message.textContent = `No render: ${one.error}`;
    return;
  }
  // The 2x render is only asked for when it stays within the service's largest side.
  const double =
    Math.max(width, height) * 2 <= 4096
      ? await linkOf(`${base}?${renderQuery(width * 2, height * 2)}`)
      : null;
  // With the CDN option the links to copy are lasting embed links (checked by the CDN on
  // every view); without it, the render's own links, which expire.
  const lasting = config.embedLinks ? await embedLinks(width, height, double?.url) : null;
  if (lasting?.error) {
    message.textContent = `No lasting link: ${lasting.error}`;
    return;
  }
  const src = lasting ? lasting.one : one.url;
  const src2x = lasting ? lasting.double : double?.url;
  const alt = (shown.title || shown.filename).replace(/"/g, "&quot;");
  $("#render-link").value = src;
  $("#render-snippet").value = src2x
    ? `<img src="${src}" srcset="${src} 1x, ${src2x} 2x" alt="${alt}">`
    : `<img src="${src}" alt="${alt}">`;
  const preview = $("#render-preview");
  preview.src = URL.createObjectURL(one.blob);
  preview.alt = `Render of ${shown.title || shown.filename}`;
  $("#render-result").hidden = false;
  const minutes = Math.round(config.linkSeconds / 60);
  message.textContent = lasting
    ? `Ready. These links work until ${new Date(lasting.expiresAt).toLocaleDateString()}, or until the photo is deleted.`
    : `Ready. These links work for ${minutes} minute${minutes === 1 ? "" : "s"}.`;
}

async function embedLinks(width, height, withDouble) {
  const base = `images/${path(shown.id)}/links`;
  const mint = (w, h) => api("POST", base, { render: Object.fromEntries(renderQuery(w, h)) });
  const one = await mint(width, height);
  if (!one.ok) return { error: messageOf(one) };
  const double = withDouble ? await mint(width * 2, height * 2) : null;
  if (double && !double.ok) return { error: messageOf(double) };
  return {
    one: one.data.url,
    double: double ? double.data.url : null,
    expiresAt: one.data.expiresAt,
  };
}

// --- replacing the content -------------------------------------------------------------

async function replace() {
  const input = $("#replace-input");
  const file = input.files[0];
  input.value = "";
  if (!file) return;
  const message = $("#replace-message");
  const contentType = declaredType(file, config.uploadTypes);
  if (!contentType) {
    message.textContent = `${file.name} is not a photo. The service takes ${typeList(config.uploadTypes)} files.`;
    return;
  }
  if (file.size === 0 || file.size > config.maxUploadBytes) {
    message.textContent = `${file.name} cannot be used: it must be between 1 byte and ${formatBytes(config.maxUploadBytes)}.`;
    return;
  }
  const image = shown;
  const started = await api("POST", `images/${path(image.id)}/upload`, {
    filename: file.name,
    contentType,
  });
  if (!started.ok) {
    message.textContent = `Not replaced: ${messageOf(started)}`;
    return;
  }
  message.textContent = `Sending ${file.name}…`;
  const outcome = await hooks.replace(started.data.image, started.data.upload, file);
  if (!outcome.ok) {
    message.textContent = `Not replaced: ${outcome.reason}`;
    return;
  }
  message.textContent = `${file.name} was sent; it replaces the photo once it is processed.`;
  announce(message.textContent);
  const settled = await settle(image.id);
  if (!settled || !shown || shown.id !== image.id) return;
  fill(settled);
  message.textContent =
    settled.status === "ready"
      ? `Replaced with ${file.name}.`
      : `${file.name} could not be used: ${failureLong(settled.failure)}`;
  announce(message.textContent);
}

// The image once its latest upload is processed (polled each second, for at most two minutes).
async function settle(imageId) {
  for (let tries = 0; tries < 120; tries += 1) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const got = await api("GET", `images/${path(imageId)}`);
    if (!got.ok) return null;
    if (!["awaiting_upload", "processing"].includes(got.data.status)) return got.data;
  }
  return null;
}

// --- history ---------------------------------------------------------------------------

async function loadHistory() {
  const image = shown;
  const list = $("#history");
  list.replaceChildren(element("li", { class: "muted", text: "Reading the log…" }));
  const rows = [];
  let cursor = null;
  for (let page = 0; page < HISTORY_PAGES; page += 1) {
    const query = new URLSearchParams({ limit: "100" });
    if (cursor) query.set("cursor", cursor);
    const got = await api("GET", `uploads?${query}`);
    if (!got.ok) {
      list.replaceChildren(element("li", { text: `The log could not be read: ${messageOf(got)}` }));
      return;
    }
    rows.push(...got.data.uploads.filter((row) => row.imageId === image.id));
    cursor = got.data.cursor;
    if (!cursor) break;
  }
  if (!shown || shown.id !== image.id) return;
  if (!rows.length) {
    list.replaceChildren(
      element("li", { class: "muted", text: "No uploads of yours are in the log for this image." }),
    );
    return;
  }
  list.replaceChildren(
    ...rows.map((row) =>
      element(
        "li",
        { "data-testid": "history-row", "data-status": row.status },
        element("span", { class: "when" }, timeElement(row.createdAt)),
        element("span", {
          class: "what",
          text: `${row.filename}${row.replaces ? " (replacement)" : ""}`,
        }),
        element("span", { class: `status ${row.status}`, text: statusWord(row.status) }),
        row.failure ? element("span", { class: "why", text: failureLong(row.failure) }) : null,
        row.durationMs
          ? element("span", { class: "muted", text: formatDuration(row.durationMs) })
          : null,
      ),
    ),
  );
}
