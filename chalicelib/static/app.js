"use strict";
// The Image Service page: sign in against Cognito, upload with presigned POSTs, watch
// processing, browse, edit and delete. The ID token lives only in memory.

const state = { token: null, config: null, cursor: null, logCursor: null, cards: new Map() };
const $ = (selector) => document.querySelector(selector);
const UNFINISHED = new Set(["awaiting_upload", "processing"]);

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

async function api(method, path, body) {
  const headers = { Authorization: state.token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { Message: text }; }
  if (response.status === 401) signOut("Your session ended; please sign in again.");
  return { status: response.status, ok: response.ok, data };
}

// --- signing in ---------------------------------------------------------------------

async function loadConfig() {
  const response = await fetch("config");
  state.config = await response.json();
}

async function signIn(event) {
  event.preventDefault();
  $("#sign-in-error").textContent = "";
  const response = await fetch(state.config.cognitoEndpoint, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.1",
      "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
    },
    body: JSON.stringify({
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: state.config.appClientId,
      AuthParameters: { USERNAME: $("#username").value, PASSWORD: $("#password").value },
    }),
  }).catch(() => null);
  const result = response && response.ok ? await response.json() : null;
  if (!result || !result.AuthenticationResult) {
    $("#sign-in-error").textContent = "Wrong user name or password, or the sign-in service is unreachable.";
    return;
  }
  state.token = result.AuthenticationResult.IdToken;
  $("#password").value = "";
  const me = await api("GET", "me");
  $("#who").textContent = me.ok ? `Signed in as ${me.data.username}` : "";
  $("#sign-in-view").hidden = true;
  $("#app-view").hidden = false;
  $("#account").hidden = false;
  showView("gallery");
  await loadGallery(true);
}

function signOut(message = "") {
  state.token = null;
  state.cards.clear();
  $("#gallery").replaceChildren();
  $("#transfers").replaceChildren();
  $("#app-view").hidden = true;
  $("#account").hidden = true;
  $("#sign-in-view").hidden = false;
  $("#sign-in-error").textContent = message;
}

// --- gallery ------------------------------------------------------------------------

function statusText(image) {
  if (image.status === "failed") return `failed (${image.failure ? image.failure.code : "unknown"})`;
  if (image.status === "awaiting_upload") return image.uploading ? "uploading" : "waiting for upload";
  return image.status;
}

function renderCard(image) {
  let card = state.cards.get(image.id);
  if (!card) {
    card = element("li", { class: "card", "data-id": image.id });
    state.cards.set(image.id, card);
  }
  const label = image.title || image.filename;
  const status = statusText(image);
  const thumb = element("div", { class: "thumb" });
  if (image.thumbnail) thumb.append(element("img", { src: image.thumbnail, alt: label }));
  else thumb.append(element("span", { class: "status", text: status }));
  const open = element("button", { type: "button", "aria-label": `${label}: ${status}` },
    thumb,
    element("div", { class: "caption" },
      element("div", { class: "name", text: label }),
      element("div", { class: `status ${image.status}`, "data-testid": "status", text: status })));
  open.addEventListener("click", () => openDetail(image.id));
  card.dataset.status = image.status;
  card.replaceChildren(open);
  return card;
}

async function withThumbnail(image) {
  if (image.status !== "ready" && !(image.variants && image.variants.thumbnail)) return image;
  const full = await api("GET", `images/${encodeURIComponent(image.id)}`);
  return full.ok && full.data.links ? { ...image, thumbnail: full.data.links.thumbnail } : image;
}

async function loadGallery(fresh) {
  if (fresh) { state.cursor = null; state.cards.clear(); $("#gallery").replaceChildren(); }
  const query = new URLSearchParams({ limit: "24" });
  if (state.cursor) query.set("cursor", state.cursor);
  const page = await api("GET", `images?${query}`);
  if (!page.ok) return;
  for (const image of page.data.images) {
    $("#gallery").append(renderCard(await withThumbnail(image)));
    if (UNFINISHED.has(image.status)) watch(image.id);
  }
  state.cursor = page.data.cursor;
  $("#more").hidden = !state.cursor;
}

function watch(imageId) {
  const poll = async () => {
    if (!state.token || !state.cards.has(imageId)) return;
    const got = await api("GET", `images/${encodeURIComponent(imageId)}`);
    if (!got.ok) return;
    const image = got.data.links ? { ...got.data, thumbnail: got.data.links.thumbnail } : got.data;
    renderCard(image);
    if (UNFINISHED.has(image.status)) setTimeout(poll, 1000);
  };
  setTimeout(poll, 1000);
}

// --- uploads ------------------------------------------------------------------------

function uploadFile(file) {
  const row = element("li", {}, element("span", { text: file.name }));
  const bar = element("progress", { max: "100", value: "0", "aria-label": `Upload of ${file.name}` });
  row.append(bar);
  $("#transfers").prepend(row);
  const refuse = (message) => {
    row.classList.add("refused");
    row.replaceChildren(element("span", { text: `${file.name}: ${message}` }));
  };
  const contentType = file.type && file.type.startsWith("image/") ? file.type : "image/jpeg";
  if (file.size > state.config.maxUploadBytes) {
    refuse(`too large (the limit is ${Math.round(state.config.maxUploadBytes / 1048576)} MB)`);
    return;
  }
  api("POST", "images", { filename: file.name, contentType }).then((created) => {
    if (!created.ok) { refuse((created.data && created.data.Message) || `refused (${created.status})`); return; }
    const image = { ...created.data.image, uploading: true };
    $("#gallery").prepend(renderCard(image));
    const form = new FormData();
    for (const [name, value] of Object.entries(created.data.upload.fields)) form.append(name, value);
    form.append("file", file);
    const request = new XMLHttpRequest();
    request.open("POST", created.data.upload.url);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) bar.value = Math.round((event.loaded / event.total) * 100);
    });
    request.addEventListener("load", () => {
      if (request.status >= 200 && request.status < 300) {
        bar.value = 100;
        row.remove();
        renderCard({ ...image, uploading: false, status: "processing" });
        watch(image.id);
      } else {
        refuse(`storage refused the upload (${request.status})`);
      }
    });
    request.addEventListener("error", () => refuse("the upload failed; check your connection"));
    request.send(form);
  });
}

function uploadAll(files) { for (const file of files) uploadFile(file); }

// --- detail -------------------------------------------------------------------------

let detailImage = null;

async function openDetail(imageId) {
  const got = await api("GET", `images/${encodeURIComponent(imageId)}`);
  if (!got.ok) return;
  detailImage = got.data;
  const image = got.data;
  const links = image.links || {};
  $("#detail-title").textContent = image.title || image.filename;
  for (const [selector, link] of [["#detail-preview", links.preview], ["#detail-hd", links["hd-rotated"]]]) {
    const img = $(selector);
    if (link) { img.src = link; img.hidden = false; } else { img.removeAttribute("src"); img.hidden = true; }
  }
  const original = $("#detail-original");
  original.hidden = !links.original;
  if (links.original) original.href = links.original;
  const facts = [
    ["File", image.filename], ["Status", statusText(image)],
    ["Format", image.format], ["Size", image.width ? `${image.width} × ${image.height} px` : null],
    ["Bytes", image.bytes], ["Uploaded", image.uploadedAt], ["Processed", image.processedAt],
  ].filter(([, value]) => value !== null && value !== undefined);
  $("#detail-facts").replaceChildren(...facts.flatMap(([name, value]) =>
    [element("dt", { text: name }), element("dd", { text: String(value) })]));
  $("#detail-title-input").value = image.title || "";
  $("#detail-description").value = image.description || "";
  $("#detail-message").textContent = "";
  $("#detail").showModal();
}

async function saveDetail(event) {
  event.preventDefault();
  const changed = await api("PATCH", `images/${encodeURIComponent(detailImage.id)}`, {
    title: $("#detail-title-input").value,
    description: $("#detail-description").value,
    version: detailImage.version,
  });
  if (changed.status === 409) {
    $("#detail-message").textContent = "Someone changed this image meanwhile; reloaded it, please check and save again.";
    await openDetail(detailImage.id);
    return;
  }
  if (!changed.ok) { $("#detail-message").textContent = changed.data.Message; return; }
  detailImage = { ...detailImage, ...changed.data };
  $("#detail-message").textContent = "Saved.";
  $("#detail-title").textContent = changed.data.title || changed.data.filename;
  renderCard(await withThumbnail(changed.data));
}

async function deleteDetail() {
  if (!window.confirm(`Delete ${detailImage.filename}?`)) return;
  const deleted = await api("DELETE", `images/${encodeURIComponent(detailImage.id)}`);
  if (deleted.status !== 204) { $("#detail-message").textContent = deleted.data.Message; return; }
  const card = state.cards.get(detailImage.id);
  if (card) card.remove();
  state.cards.delete(detailImage.id);
  $("#detail").close();
}

// --- the log ------------------------------------------------------------------------

async function loadLog(fresh) {
  if (fresh) { state.logCursor = null; $("#log tbody").replaceChildren(); }
  const query = new URLSearchParams({ limit: "50" });
  if (state.logCursor) query.set("cursor", state.logCursor);
  const page = await api("GET", `uploads?${query}`);
  if (!page.ok) return;
  for (const row of page.data.uploads) {
    $("#log tbody").append(element("tr", { "data-status": row.status },
      element("td", { text: row.filename }),
      element("td", { text: row.status }),
      element("td", { text: row.failure ? `${row.failure.code}: ${row.failure.message}` : "" }),
      element("td", { text: row.uploadedAt || "" }),
      element("td", { text: row.processedAt || "" }),
      element("td", { text: row.durationMs === null ? "" : `${row.durationMs} ms` })));
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

// --- wiring -------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", async () => {
  await loadConfig();
  $("#sign-in").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", () => signOut());
  $("#more").addEventListener("click", () => loadGallery(false));
  $("#log-more").addEventListener("click", () => loadLog(false));
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => showView(tab.dataset.view));
  }
  const zone = $("#drop-zone");
  $("#file-input").addEventListener("change", (event) => { uploadAll(event.target.files); event.target.value = ""; });
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); $("#file-input").click(); }
  });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    uploadAll(event.dataTransfer.files);
  });
  $("#detail-edit").addEventListener("submit", saveDetail);
  $("#detail-delete").addEventListener("click", deleteDetail);
  document.body.dataset.ready = "true";
});
