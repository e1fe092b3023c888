// A collection's share links, for its owner: make one (view, or view and upload with a
// quota; an expiry; optionally a number of visits), copy it once, see each link's use, revoke.
import { api, messageOf, path } from "./api.js";
import { $, announce, copyText, element, formatBytes, timeElement } from "./dom.js";

let collectionId = null;

export function configure() {
  $("#link-form").addEventListener("submit", create);
  $("#link-scope").addEventListener("change", () => {
    $("#link-quota").hidden = $("#link-scope").value !== "upload";
  });
  $("#link-copy").addEventListener("click", async () => {
    $("#link-copy").textContent = (await copyText($("#link-url").value))
      ? "Copied"
      : "Select and copy";
  });
}

const pageUrl = (token) =>
  `${location.origin}${location.pathname}#share=${encodeURIComponent(token)}`;

function row(link) {
  const uses = link.maxUses
    ? `${link.useCount} of ${link.maxUses} visits`
    : `${link.useCount} visits`;
  const parts = [
    element("span", { class: "member-id", text: link.label }),
    element("span", { class: "muted", text: link.scope === "upload" ? "view and upload" : "view" }),
    element("span", { class: "muted", text: uses }),
  ];
  if (link.scope === "upload") {
    parts.push(
      element("span", {
        class: "muted",
        text: `${link.uploadCount} of ${link.maxUploads} photos, ${formatBytes(link.uploadBytes)} of ${formatBytes(link.maxBytes)}`,
      }),
    );
  }
  if (link.revokedAt) {
    parts.push(element("span", { class: "muted", text: "revoked" }));
  } else {
    parts.push(element("span", { class: "muted" }, "until ", timeElement(link.expiresAt)));
    const revoke = element("button", {
      type: "button",
      class: "quiet small",
      text: "Revoke",
      "aria-label": `Revoke ${link.label}`,
    });
    revoke.addEventListener("click", () => revokeLink(link));
    parts.push(revoke);
  }
  return element("li", { "data-testid": "link", "data-link": link.linkId }, ...parts);
}

export async function show(collection, owned) {
  collectionId = collection.id;
  $("#links-panel").hidden = !owned;
  $("#link-made").hidden = true;
  $("#link-message").textContent = "";
  if (!owned) return;
  const got = await api("GET", `collections/${path(collectionId)}/links`);
  if (!got.ok) {
    $("#link-message").textContent = `Links could not be loaded: ${messageOf(got)}`;
    return;
  }
  $("#links-count").textContent = `(${got.data.links.length})`;
  $("#links").replaceChildren(...got.data.links.map(row));
}

async function create(event) {
  event.preventDefault();
  const scope = $("#link-scope").value;
  const body = { scope, expiresInSeconds: Number($("#link-expiry").value) };
  const label = $("#link-label").value.trim();
  if (label) body.label = label;
  if ($("#link-max-uses").value) body.maxUses = Number($("#link-max-uses").value);
  if (scope === "upload") {
    body.maxUploads = Number($("#link-max-uploads").value);
    body.maxBytes = Number($("#link-max-mb").value) * 1048576;
  }
  const made = await api("POST", `collections/${path(collectionId)}/links`, body);
  if (!made.ok) {
    $("#link-message").textContent = `Not made: ${messageOf(made)}`;
    return;
  }
  $("#link-url").value = pageUrl(made.data.token);
  $("#link-made").hidden = false;
  $("#link-copy").textContent = "Copy";
  $("#link-message").textContent = "";
  announce("The link is made: copy it now, it is shown only once.");
  await show({ id: collectionId }, true);
  $("#link-made").hidden = false;
  $("#link-url").select();
}

async function revokeLink(link) {
  const done = await api("DELETE", `collections/${path(collectionId)}/links/${path(link.linkId)}`);
  if (!done.ok) {
    $("#link-message").textContent = `Not revoked: ${messageOf(done)}`;
    return;
  }
  await show({ id: collectionId }, true);
  $("#link-message").textContent = `${link.label} no longer works.`;
}
