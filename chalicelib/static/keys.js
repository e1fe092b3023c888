// API keys, for admins: issue one (its secret is shown once, with a copy button), list them
// with their use counts, revoke one.
import { api, messageOf, path } from "./api.js";
import { $, announce, copyText, element, timeElement } from "./dom.js";

export function configure() {
  $("#key-form").addEventListener("submit", issue);
  $("#key-copy").addEventListener("click", async () => {
    const copied = await copyText($("#key-secret").value);
    $("#key-message").textContent = copied
      ? "Copied. Keep it somewhere safe."
      : "Select the key and copy it.";
  });
}

async function issue(event) {
  event.preventDefault();
  const name = $("#key-name").value.trim();
  const made = await api("POST", "admin/api-keys", { name });
  if (!made.ok) {
    $("#key-message").textContent = `Not issued: ${messageOf(made)}`;
    return;
  }
  $("#key-name").value = "";
  $("#key-secret").value = made.data.secret;
  $("#key-issued").hidden = false;
  $("#key-issued-name").textContent = made.data.name;
  $("#key-message").textContent = "";
  $("#key-secret").focus();
  $("#key-secret").select();
  announce(`Key ${made.data.name} issued. Copy it now: it is shown only once.`);
  await load();
}

async function revoke(key) {
  if (!window.confirm(`Revoke ${key.name}? Systems using it lose access.`)) return;
  const done = await api("DELETE", `admin/api-keys/${path(key.keyId)}`);
  if (!done.ok) {
    announce(`Not revoked: ${messageOf(done)}`);
    return;
  }
  announce(`${key.name} was revoked.`);
  await load();
}

function row(key) {
  const action = key.revokedAt
    ? element("span", { class: "muted", text: "Revoked" })
    : element("button", {
        type: "button",
        class: "danger small",
        text: "Revoke",
        "aria-label": `Revoke ${key.name}`,
      });
  if (!key.revokedAt) action.addEventListener("click", () => revoke(key));
  return element(
    "tr",
    { "data-key": key.keyId, "data-revoked": String(Boolean(key.revokedAt)) },
    element("td", { "data-label": "Name", text: key.name }),
    element("td", { "data-label": "Created" }, timeElement(key.createdAt)),
    element(
      "td",
      { "data-label": "Last used" },
      key.lastUsedAt ? timeElement(key.lastUsedAt) : "Never",
    ),
    element("td", { "data-label": "Uses", class: "number", text: String(key.useCount) }),
    element("td", { "data-label": "" }, action),
  );
}

export async function load() {
  $("#keys").setAttribute("aria-busy", "true");
  const got = await api("GET", "admin/api-keys");
  $("#keys").setAttribute("aria-busy", "false");
  if (!got.ok) {
    announce(`The keys could not be loaded: ${messageOf(got)}`);
    return;
  }
  $("#keys tbody").replaceChildren(...got.data.keys.map(row));
  $("#keys-empty").hidden = got.data.keys.length > 0;
}
