// The Image Service page: sign in against Cognito, upload straight to S3 with presigned POSTs,
// watch each upload being processed, browse, edit, replace and delete photos, share them in
// collections, make renders, read the processing log, and (admins) manage API keys.
import { api, onSessionEnded } from "./api.js";
import * as collections from "./collections.js";
import * as detail from "./detail.js";
import { $, $$, announce, copyText } from "./dom.js";
import { Gallery, labelOf } from "./gallery.js";
import * as guest from "./guest.js";
import * as keys from "./keys.js";
import * as log from "./log.js";
import * as session from "./session.js";

const state = { config: null, me: null, galleries: [], pending: null };
const VIEWS = ["gallery", "collections", "log", "keys"];

// --- signing in ------------------------------------------------------------------------

function showPanel(name) {
  for (const panel of $$("#sign-in-view [data-panel]")) panel.hidden = panel.dataset.panel !== name;
  const first = $(`#sign-in-view [data-panel=${name}] input:not([type=hidden])`);
  if (first) first.focus();
}

function say(id, text, good = false) {
  const node = $(`#${id}`);
  node.textContent = text;
  node.classList.toggle("good", good);
}

async function busy(form, work) {
  const button = $("button[type=submit]", form);
  button.disabled = true;
  try {
    return await work();
  } finally {
    button.disabled = false;
  }
}

async function signIn(event) {
  event.preventDefault();
  say("sign-in-error", "");
  const username = $("#username").value.trim();
  const outcome = await busy(event.target, () => session.signIn(username, $("#password").value));
  $("#password").value = "";
  if (outcome.error) {
    say("sign-in-error", outcome.error);
    return;
  }
  if (outcome.challenge) {
    state.pending = { username, session: outcome.session };
    showPanel("new-password");
    return;
  }
  await enter();
}

async function setFirstPassword(event) {
  event.preventDefault();
  const password = $("#first-password").value;
  if (password !== $("#first-password-again").value) {
    say("new-password-error", "The two passwords differ.");
    return;
  }
  const { username, session: challenge } = state.pending;
  const outcome = await busy(event.target, () =>
    session.setFirstPassword(username, challenge, password),
  );
  if (outcome.error) {
    say("new-password-error", outcome.error);
    return;
  }
  state.pending = null;
  event.target.reset();
  await enter();
}

async function requestReset(event) {
  event.preventDefault();
  const username = $("#forgot-username").value.trim();
  const outcome = await busy(event.target, () => session.requestReset(username));
  if (outcome.error) {
    say("forgot-error", outcome.error);
    return;
  }
  state.pending = { username };
  $("#reset-sent").textContent = outcome.destination
    ? `A code was sent to ${outcome.destination}.`
    : "If that account exists, a code is on its way to its email.";
  showPanel("reset");
}

async function confirmReset(event) {
  event.preventDefault();
  const password = $("#reset-password").value;
  const outcome = await busy(event.target, () =>
    session.confirmReset(state.pending.username, $("#reset-code").value.trim(), password),
  );
  if (outcome.error) {
    say("reset-error", outcome.error);
    return;
  }
  $("#username").value = state.pending.username;
  state.pending = null;
  event.target.reset();
  showPanel("sign-in");
  $("#password").focus();
  say("sign-in-error", "Your password was changed: sign in with the new one.", true);
}

async function enter() {
  const me = await api("GET", "me");
  if (!me.ok) {
    session.forget();
    say("sign-in-error", "Signed in, but the service refused the session; try again.");
    return;
  }
  state.me = me.data;
  const admin = me.data.groups.includes("admins");
  $("#who-name").textContent = me.data.username;
  $("#my-id").value = me.data.sub;
  $("#tab-keys").hidden = !admin;
  log.showAdmin(admin);
  $("#sign-in-view").hidden = true;
  $("#app-view").hidden = false;
  $("#account").hidden = false;
  document.body.dataset.signedIn = "true";
  announce(`Signed in as ${me.data.username}.`);
  await showView(location.hash.slice(1) || "gallery", { focus: false });
  if (!location.hash || location.hash === "#gallery") $("#drop-zone").focus();
}

function signOut(message = "") {
  session.forget();
  state.me = null;
  for (const gallery of state.galleries) gallery.clear();
  if ($("#detail").open) $("#detail").close();
  $("#log tbody").replaceChildren();
  $("#app-view").hidden = true;
  $("#account").hidden = true;
  $("#account-menu").open = false;
  $("#sign-in-view").hidden = false;
  delete document.body.dataset.signedIn;
  showPanel("sign-in");
  say("sign-in-error", message);
}

// --- views (tabs) ----------------------------------------------------------------------

async function showView(name, { focus = true } = {}) {
  if (!VIEWS.includes(name) || $(`#tab-${name}`).hidden) name = "gallery";
  for (const tab of $$("[role=tab]")) {
    const selected = tab.dataset.view === name;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
  }
  for (const view of VIEWS) $(`#${view}-view`).hidden = view !== name;
  if (focus) $(`#tab-${name}`).focus();
  history.replaceState(null, "", `#${name}`);
  if (name === "gallery" && !state.galleries[0].loaded) await state.galleries[0].load(true);
  if (name === "collections") await collections.load();
  if (name === "log") await log.load(true);
  if (name === "keys") await keys.load();
}

function wireTabs() {
  const tabs = () => $$("[role=tab]").filter((tab) => !tab.hidden);
  for (const tab of $$("[role=tab]")) {
    tab.addEventListener("click", () => showView(tab.dataset.view, { focus: false }));
    tab.addEventListener("keydown", (event) => {
      // The arrow keys move between tabs (the WAI-ARIA tabs pattern); Tab moves into the panel.
      const shown = tabs();
      const at = shown.indexOf(tab);
      const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: shown.length - 1 }[
        event.key
      ];
      if (to === undefined) return;
      event.preventDefault();
      showView(shown[(to + shown.length) % shown.length].dataset.view);
    });
  }
}

// --- images across views ---------------------------------------------------------------

function galleryEntry(imageId) {
  for (const gallery of state.galleries) {
    const entry = gallery.cards.get(imageId);
    if (entry) return entry;
  }
  return null;
}

function openImage(imageId) {
  detail.open(imageId);
}

const detailHooks = {
  changed: (image) => {
    for (const gallery of state.galleries) gallery.update(image);
  },
  deleted: (imageId) => {
    for (const gallery of state.galleries) gallery.forget(imageId);
    const back = $("[role=tab][aria-selected=true]");
    (back.dataset.view === "gallery" ? $("#drop-zone") : back).focus(); // the card that had focus is gone
  },
  replace: (image, upload, file) => {
    const owner =
      state.galleries.find((gallery) => gallery.cards.has(image.id)) || state.galleries[0];
    return owner.replace(image, upload, file);
  },
  labelOf: (image) => {
    const entry = galleryEntry(image.id);
    return labelOf(entry ? { ...entry, image } : { image, phase: null });
  },
};

// --- start -----------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", async () => {
  $("#sign-in").addEventListener("submit", signIn);
  $("#new-password").addEventListener("submit", setFirstPassword);
  $("#forgot").addEventListener("submit", requestReset);
  $("#reset").addEventListener("submit", confirmReset);
  for (const button of $$("[data-show-panel]")) {
    button.addEventListener("click", () => {
      if (button.dataset.showPanel === "forgot") $("#forgot-username").value = $("#username").value;
      showPanel(button.dataset.showPanel);
    });
  }
  $("#sign-out").addEventListener("click", async () => {
    await session.signOut();
    signOut();
  });
  $("#copy-id").addEventListener("click", async () => {
    $("#copy-id").textContent = (await copyText($("#my-id").value)) ? "Copied" : "Select and copy";
  });
  wireTabs();
  // A file dropped just beside a drop zone must not make the browser navigate away to it.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
  const shareToken = guest.tokenIn(location.hash);
  if (shareToken) {
    // A share link's page: a guest, not a user; nothing of the signed-in page starts.
    await guest.start(shareToken);
    document.body.dataset.ready = "true";
    return;
  }
  try {
    const response = await fetch("config");
    if (!response.ok) throw new Error(`config: ${response.status}`);
    state.config = await response.json();
  } catch {
    say("sign-in-error", "The page could not load its settings; reload to try again.");
    return;
  }
  session.configure(state.config, signOut);
  onSessionEnded(signOut);
  state.galleries = [
    new Gallery($("#gallery-view"), { config: state.config, onOpen: openImage }),
    new Gallery($("#collection-open"), { config: state.config, onOpen: openImage }),
  ];
  collections.configure(() => state.me, state.galleries[1]);
  detail.configure(state.config, detailHooks);
  log.configure(openImage);
  keys.configure();
  if (await session.renew()) await enter();
  else showPanel("sign-in");
  document.body.dataset.ready = "true";
});
