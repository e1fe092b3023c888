"use strict";
// The Image Service page: sign in against Cognito, upload straight to S3 with presigned POSTs,
// watch each upload being processed, browse, edit and delete, read the processing log.
// The ID token lives only in this module's memory: a reload signs the user out.

const $ = (selector) => document.querySelector(selector);
const state = {
  token: null,
  config: null,
  cursor: null,
  logCursor: null,
  cards: new Map(), // image id -> {image, phase, reason, uploaded, node, seen, refreshed}
  detail: null,     // the image shown in the dialog, as last read
};
const POLL_FAST_MS = 1000;
const POLL_SLOW_MS = 5000;
const POLL_FAST_FOR_MS = 60_000;
const POLL_GIVE_UP_MS = 15 * 60_000;
const FINAL = new Set(["ready", "failed", "expired", "upload-failed"]);

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children);
  return node;
}

function announce(message) {
  // Cleared first so the same sentence twice is still spoken twice.
  $("#announcer").textContent = "";
  setTimeout(() => { $("#announcer").textContent = message; }, 50);
}

function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return null;
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1048576) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

function formatTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

function timeCell(iso) {
  return element("td", {}, iso ? element("time", { datetime: iso, text: formatTime(iso) }) : "");
}

// --- talking to the API ----------------------------------------------------------------

async function api(method, path, body) {
  const headers = { Authorization: state.token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    return { status: 0, ok: false, data: { Message: "The service cannot be reached; try again." } };
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { Message: text }; }
  if (response.status === 401 && state.token) signOut("Your session has ended; please sign in again.");
  return { status: response.status, ok: response.ok, data };
}

function messageOf(result) {
  const data = result.data || {};
  return data.Message || data.message || `the service answered ${result.status}`;
}

// --- signing in ------------------------------------------------------------------------

async function loadConfig() {
  const response = await fetch("config");
  if (!response.ok) throw new Error(`config: ${response.status}`);
  state.config = await response.json();
  $("#limit-hint").textContent = `Up to ${formatBytes(state.config.maxUploadBytes)} each.`;
}

async function cognitoSignIn(username, password) {
  let response;
  try {
    response = await fetch(state.config.cognitoEndpoint, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
      },
      body: JSON.stringify({
        AuthFlow: "USER_PASSWORD_AUTH",
        ClientId: state.config.appClientId,
        AuthParameters: { USERNAME: username, PASSWORD: password },
      }),
    });
  } catch {
    return { error: "The sign-in service cannot be reached; try again." };
  }
  const result = await response.json().catch(() => ({}));
  if (result.AuthenticationResult) return { token: result.AuthenticationResult.IdToken };
  if (result.ChallengeName) {
    return { error: `This account must first complete "${result.ChallengeName}", which this page does not offer.` };
  }
  const kind = String(result.__type || "").split("#").pop();
  if (kind === "NotAuthorizedException" || kind === "UserNotFoundException") {
    return { error: "Wrong user name or password." };
  }
  return { error: result.message || `Sign-in failed (${response.status}).` };
}

async function signIn(event) {
  event.preventDefault();
  const button = $("#sign-in-button");
  $("#sign-in-error").textContent = "";
  button.disabled = true;
  const outcome = await cognitoSignIn($("#username").value.trim(), $("#password").value);
  button.disabled = false;
  if (outcome.error) { $("#sign-in-error").textContent = outcome.error; return; }
  state.token = outcome.token;
  $("#password").value = "";
  const me = await api("GET", "me");
  $("#who").textContent = me.ok ? `Signed in as ${me.data.username}` : "";
  $("#sign-in-view").hidden = true;
  $("#app-view").hidden = false;
  $("#account").hidden = false;
  showView("gallery");
  announce("Signed in.");
  await loadGallery(true);
  $("#drop-zone").focus();
}

function signOut(message = "") {
  state.token = null;
  state.cards.clear();
  state.detail = null;
  if ($("#detail").open) $("#detail").close();
  for (const list of ["#gallery", "#notices", "#log tbody"]) $(list).replaceChildren();
  $("#app-view").hidden = true;
  $("#account").hidden = true;
  $("#sign-in-view").hidden = false;
  $("#sign-in-error").textContent = message;
  $("#username").focus();
}

// --- cards -----------------------------------------------------------------------------

// What a card says: the server's status, refined by what this page knows (an upload it is
// sending, or one it finished that the pipeline has not picked up yet).
function phaseOf(entry) {
  const status = entry.image.status;
  if (entry.phase === "uploading" || entry.phase === "upload-failed") return entry.phase;
  if (status === "awaiting_upload") return entry.uploaded ? "processing" : "waiting";
  return status;
}

function labelOf(entry) {
  const phase = phaseOf(entry);
  const failure = entry.image.failure;
  if (phase === "failed") return `failed (${failure ? failure.code : "unknown"})`;
  if (phase === "upload-failed") return `upload failed (${entry.reason})`;
  if (phase === "uploading") return `uploading ${entry.progress || 0}%`;
  if (phase === "waiting") return "waiting for upload";
  return phase;
}

function nameOf(image) {
  return image.title || image.filename;
}

function track(image, extra = {}) {
  let entry = state.cards.get(image.id);
  if (!entry) {
    entry = { image, phase: null, uploaded: false, progress: 0, seen: [], refreshed: false,
              node: element("li", { class: "card", "data-id": image.id, "data-testid": "card" }) };
    state.cards.set(image.id, entry);
  }
  Object.assign(entry, { image: { ...entry.image, ...image } }, extra);
  return entry;
}

function render(entry) {
  const { image, node } = entry;
  const phase = phaseOf(entry);
  const label = labelOf(entry);
  const previous = entry.seen[entry.seen.length - 1];
  if (previous !== phase) {
    entry.seen.push(phase);
    if (previous && FINAL.has(phase)) announce(`${nameOf(image)}: ${label}`);
  }
  node.dataset.status = phase;
  node.dataset.seen = entry.seen.join(" ");

  const thumb = element("div", { class: "thumb" });
  if (entry.thumbnail) {
    const img = element("img", { src: entry.thumbnail, alt: "", loading: "lazy" });
    img.addEventListener("error", () => refreshLinks(entry));
    thumb.append(img);
  } else {
    thumb.append(element("span", { class: `placeholder ${phase}`, "aria-hidden": "true",
                                   text: phase === "ready" ? "…" : label }));
  }
  const open = element("button", { type: "button", class: "open", "aria-label": `${nameOf(image)}: ${label}. Open details` },
    thumb,
    element("span", { class: "caption" },
      element("span", { class: "name", text: nameOf(image) }),
      element("span", { class: `status ${phase}`, "data-testid": "status", text: label })));
  open.disabled = phase === "uploading";
  open.addEventListener("click", () => openDetail(image.id));
  const parts = [open];
  if (phase === "uploading") {
    parts.push(element("progress", { max: "100", value: String(entry.progress || 0),
                                     "aria-label": `Upload of ${image.filename}` }));
  }
  const hadFocus = node.contains(document.activeElement);
  node.replaceChildren(...parts);
  if (hadFocus) open.focus();
  $("#empty").hidden = true;
}

function setProgress(entry, percent) {
  entry.progress = percent;
  const bar = entry.node.querySelector("progress");
  if (bar) bar.value = percent;
  const status = entry.node.querySelector(".status");
  if (status) status.textContent = labelOf(entry);
}

const REFRESH_EVERY_MS = 60_000;

async function refreshLinks(entry) {
  // Presigned links expire (after minutes); fetch fresh ones when a picture fails to load,
  // at most once a minute per card, so a picture that is really broken cannot loop.
  if (entry.refreshedAt && Date.now() - entry.refreshedAt < REFRESH_EVERY_MS) return;
  entry.refreshedAt = Date.now();
  await loadThumbnail(entry);
}

async function loadThumbnail(entry) {
  const got = await api("GET", `images/${encodeURIComponent(entry.image.id)}`);
  if (!got.ok) return;
  entry.image = got.data;
  entry.thumbnail = got.data.links ? got.data.links.thumbnail : null;
  render(entry);
}

function forget(imageId) {
  const entry = state.cards.get(imageId);
  if (entry) entry.node.remove();
  state.cards.delete(imageId);
  $("#empty").hidden = state.cards.size > 0;
}

// --- the gallery -----------------------------------------------------------------------

async function loadGallery(fresh) {
  if (fresh) { state.cursor = null; state.cards.clear(); $("#gallery").replaceChildren(); }
  const query = new URLSearchParams({ limit: "24" });
  if (state.cursor) query.set("cursor", state.cursor);
  $("#more").disabled = true;
  $("#gallery").setAttribute("aria-busy", "true");
  const page = await api("GET", `images?${query}`);
  $("#more").disabled = false;
  $("#gallery").setAttribute("aria-busy", "false");
  if (!page.ok) { announce(`The gallery could not be loaded: ${messageOf(page)}`); return; }
  const shown = [];
  for (const image of page.data.images) {
    if (state.cards.has(image.id)) continue; // already here (uploaded from this page)
    const entry = track(image);
    render(entry);
    $("#gallery").append(entry.node);
    shown.push(entry);
  }
  state.cursor = page.data.cursor;
  $("#more").hidden = !state.cursor;
  $("#empty").hidden = state.cards.size > 0;
  await Promise.all(shown.map((entry) => {
    if (entry.image.status === "ready") return loadThumbnail(entry);
    if (entry.image.status === "processing") watch(entry);
    return null;
  }));
}

// Polls one unfinished image until it is ready, failed or expired: every second for the first
// minute, then every five seconds, and not forever.
function watch(entry) {
  if (entry.watching) return;
  entry.watching = true;
  const started = Date.now();
  const poll = async () => {
    if (!state.token || state.cards.get(entry.image.id) !== entry) return;
    const got = await api("GET", `images/${encodeURIComponent(entry.image.id)}`);
    if (got.status === 404) { forget(entry.image.id); return; }
    if (got.ok) {
      entry.image = got.data;
      if (got.data.links) entry.thumbnail = got.data.links.thumbnail;
      render(entry);
    }
    const elapsed = Date.now() - started;
    // An upload this page made can be expired by the cleanup in the moment before its
    // object landed; it is processed all the same, so keep watching it.
    const phase = phaseOf(entry);
    const settled = FINAL.has(phase) && !(phase === "expired" && entry.uploaded);
    if (!settled && elapsed < POLL_GIVE_UP_MS) {
      setTimeout(poll, elapsed < POLL_FAST_FOR_MS ? POLL_FAST_MS : POLL_SLOW_MS);
    } else {
      entry.watching = false;
    }
  };
  setTimeout(poll, POLL_FAST_MS);
}

// --- uploads ---------------------------------------------------------------------------

function notice(text) {
  const dismiss = element("button", { type: "button", class: "quiet", "aria-label": "Dismiss", text: "×" });
  const item = element("li", { class: "notice", "data-testid": "notice" }, element("span", { text }), dismiss);
  dismiss.addEventListener("click", () => item.remove());
  $("#notices").prepend(item);
  announce(text);
}

function storageRefusal(request) {
  // S3 explains a refusal in an XML body: <Error><Code>..</Code><Message>..</Message></Error>.
  const xml = new DOMParser().parseFromString(request.responseText || "", "application/xml");
  const message = xml.querySelector("Message");
  return message ? message.textContent : `storage answered ${request.status}`;
}

async function uploadFile(file) {
  const limit = state.config.maxUploadBytes;
  if (file.size === 0) { notice(`${file.name} was not uploaded: the file is empty.`); return; }
  if (file.size > limit) {
    notice(`${file.name} was not uploaded: it is ${formatBytes(file.size)}, the limit is ${formatBytes(limit)}.`);
    return;
  }
  // The server decides the real format from the bytes; the declared type only has to be an image.
  const contentType = file.type && file.type.startsWith("image/") ? file.type : "image/jpeg";
  const created = await api("POST", "images", { filename: file.name, contentType });
  if (!created.ok) { notice(`${file.name} was refused: ${messageOf(created)}`); return; }

  const entry = track(created.data.image, { phase: "uploading", progress: 0 });
  render(entry);
  $("#gallery").prepend(entry.node);

  const { url, fields } = created.data.upload;
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append("file", file); // last: S3 ignores every field after the file
  const request = new XMLHttpRequest();
  request.open("POST", url);
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) setProgress(entry, Math.round((event.loaded / event.total) * 100));
  });
  const finish = (extra) => { Object.assign(entry, extra); render(entry); };
  request.addEventListener("load", () => {
    if (request.status >= 200 && request.status < 300) {
      finish({ phase: null, uploaded: true, progress: 100 });
      watch(entry);
    } else {
      finish({ phase: "upload-failed", reason: storageRefusal(request) });
    }
  });
  request.addEventListener("error", () => finish({ phase: "upload-failed", reason: "the connection failed" }));
  request.send(form);
}

function uploadAll(files) {
  for (const file of Array.from(files)) uploadFile(file);
}

// --- the detail view -------------------------------------------------------------------

function fact(name, value) {
  return value === null || value === undefined || value === ""
    ? [] : [element("dt", { text: name }), element("dd", {}, value)];
}

function timeFact(name, iso) {
  return iso ? fact(name, element("time", { datetime: iso, text: formatTime(iso) })) : [];
}

function showDetailLinks(image) {
  // The dialog's pictures and download link: presigned, so renewed when they expire.
  const links = image.links || {};
  const pictures = [["#detail-preview", links.preview, `${nameOf(image)}, preview`],
                    ["#detail-hd", links["hd-rotated"], `${nameOf(image)}, 1280 by 720, upside down`]];
  for (const [selector, link, alt] of pictures) {
    const img = $(selector);
    img.closest("figure").hidden = !link;
    if (link) { img.src = link; img.alt = alt; } else img.removeAttribute("src");
  }
  state.detailLinksAt = Date.now();
  const original = $("#detail-original");
  original.hidden = !links.original;
  if (links.original) original.href = links.original;
}

function fillDetail(image) {
  state.detail = image;
  const entry = state.cards.get(image.id);
  const label = entry ? labelOf(entry) : image.status;
  $("#detail-title").textContent = nameOf(image);
  showDetailLinks(image);
  const variants = Object.entries(image.variants || {})
    .map(([name, v]) => `${name} ${v.width}×${v.height} ${v.format}`).join(", ");
  $("#detail-facts").replaceChildren(
    ...fact("File", image.filename),
    ...fact("Status", label),
    ...fact("Reason", image.failure ? image.failure.message : null),
    ...fact("Format", image.format),
    ...fact("Dimensions", image.width ? `${image.width} × ${image.height} px` : null),
    ...fact("Size", formatBytes(image.bytes)),
    ...fact("Frames", image.frames > 1 ? String(image.frames) : null),
    ...fact("Variants", variants),
    ...timeFact("Created", image.createdAt),
    ...timeFact("Uploaded", image.uploadedAt),
    ...timeFact("Processed", image.processedAt),
    ...timeFact("Changed", image.updatedAt),
  );
  $("#detail-title-input").value = image.title || "";
  $("#detail-description").value = image.description || "";
}

async function openDetail(imageId) {
  const got = await api("GET", `images/${encodeURIComponent(imageId)}`);
  if (got.status === 404) { forget(imageId); announce("That image no longer exists."); return; }
  if (!got.ok) { announce(messageOf(got)); return; }
  fillDetail(got.data);
  $("#detail-message").textContent = "";
  if (!$("#detail").open) $("#detail").showModal();
}

async function saveDetail(event) {
  event.preventDefault();
  const image = state.detail;
  const changed = await api("PATCH", `images/${encodeURIComponent(image.id)}`, {
    title: $("#detail-title-input").value,
    description: $("#detail-description").value,
    version: image.version,
  });
  if (changed.status === 409) {
    const latest = await api("GET", `images/${encodeURIComponent(image.id)}`);
    if (latest.ok) fillDetail(latest.data);
    $("#detail-message").textContent =
      "Not saved: this image was changed elsewhere meanwhile. The latest version is shown; make your change again and save.";
    return;
  }
  if (!changed.ok) { $("#detail-message").textContent = `Not saved: ${messageOf(changed)}`; return; }
  fillDetail({ ...image, ...changed.data, links: image.links });
  $("#detail-message").textContent = "Saved.";
  const entry = state.cards.get(image.id);
  if (entry) { entry.image = { ...entry.image, ...changed.data }; render(entry); }
}

async function deleteDetail() {
  const image = state.detail;
  if (!window.confirm(`Delete ${nameOf(image)}? This cannot be undone.`)) return;
  const deleted = await api("DELETE", `images/${encodeURIComponent(image.id)}`);
  if (deleted.status !== 204 && deleted.status !== 404) {
    $("#detail-message").textContent = `Not deleted: ${messageOf(deleted)}`;
    return;
  }
  forget(image.id);
  $("#detail").close();
  $("#drop-zone").focus(); // the card that had focus is gone
  announce(`${nameOf(image)} was deleted.`);
}

async function fetchOriginal(href) {
  try {
    const response = await fetch(href);
    return response.ok ? await response.blob() : null;
  } catch {
    return null;
  }
}

async function downloadOriginal(event) {
  // A cross-origin link ignores the download attribute, so fetch the bytes and save them from
  // a same-origin blob under the original file name. An expired link is renewed once; the
  // page never navigates away (that would sign the user out).
  event.preventDefault();
  const image = state.detail;
  let bytes = await fetchOriginal(event.currentTarget.href);
  if (!bytes) {
    const fresh = await api("GET", `images/${encodeURIComponent(image.id)}`);
    if (fresh.ok && fresh.data.links && fresh.data.links.original) {
      showDetailLinks(fresh.data);
      bytes = await fetchOriginal(fresh.data.links.original);
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

async function renewDetailLinks() {
  // A preview that fails to load in an open dialog has most likely outlived its link.
  const shown = state.detail;
  if (!shown || Date.now() - (state.detailLinksAt || 0) < REFRESH_EVERY_MS) return;
  state.detailLinksAt = Date.now();
  const fresh = await api("GET", `images/${encodeURIComponent(shown.id)}`);
  if (fresh.ok && state.detail && state.detail.id === shown.id) showDetailLinks(fresh.data);
}

// --- the processing log ----------------------------------------------------------------

async function loadLog(fresh) {
  if (fresh) { state.logCursor = null; $("#log tbody").replaceChildren(); }
  const query = new URLSearchParams({ limit: "50" });
  if (state.logCursor) query.set("cursor", state.logCursor);
  const page = await api("GET", `uploads?${query}`);
  if (!page.ok) { announce(`The log could not be loaded: ${messageOf(page)}`); return; }
  for (const row of page.data.uploads) {
    const reason = row.failure ? `${row.failure.code}: ${row.failure.message}` : "";
    const took = typeof row.durationMs === "number" ? `${row.durationMs} ms` : "";
    $("#log tbody").append(element("tr", { "data-status": row.status },
      element("td", { text: row.filename }),
      element("td", {}, element("span", { class: `status ${row.status}`, text: row.status })),
      element("td", { text: reason }),
      timeCell(row.uploadedAt),
      timeCell(row.processedAt),
      element("td", { text: took })));
  }
  state.logCursor = page.data.cursor;
  $("#log-more").hidden = !state.logCursor;
}

function showView(name) {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.setAttribute("aria-pressed", String(tab.dataset.view === name));
  }
  $("#gallery-view").hidden = name !== "gallery";
  $("#log-view").hidden = name !== "log";
  if (name === "log") loadLog(true);
}

// --- wiring ----------------------------------------------------------------------------

function wireDropZone() {
  const zone = $("#drop-zone");
  const input = $("#file-input");
  input.addEventListener("change", () => { uploadAll(input.files); input.value = ""; });
  zone.addEventListener("click", (event) => {
    // The label opens the picker by itself; anywhere else in the zone does the same.
    if (!event.target.closest("label, input")) input.click();
  });
  zone.addEventListener("keydown", (event) => {
    if (event.target === zone && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      input.click();
    }
  });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", (event) => {
    if (!zone.contains(event.relatedTarget)) zone.classList.remove("over");
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    uploadAll(event.dataTransfer.files);
  });
  // A file dropped just beside the zone must not make the browser navigate away to it.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
}

document.addEventListener("DOMContentLoaded", async () => {
  $("#sign-in").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", () => signOut());
  $("#more").addEventListener("click", () => loadGallery(false));
  $("#log-more").addEventListener("click", () => loadLog(false));
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => showView(tab.dataset.view));
  }
  wireDropZone();
  $("#detail-edit").addEventListener("submit", saveDetail);
  $("#detail-delete").addEventListener("click", deleteDetail);
  $("#detail-original").addEventListener("click", downloadOriginal);
  for (const selector of ["#detail-preview", "#detail-hd"]) {
    $(selector).addEventListener("error", renewDetailLinks);
  }
  try {
    await loadConfig();
  } catch {
    $("#sign-in-error").textContent = "The page could not load its settings; reload to try again.";
    return;
  }
  document.body.dataset.ready = "true";
});
