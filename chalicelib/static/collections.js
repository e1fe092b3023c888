// Collections: make one, see mine, open one to see its photos and upload into it, and (its
// owner) add and remove members, by user name (or by the user id each person finds under
// "Your account"), and manage its share links (links.js).
import { api, messageOf, path } from "./api.js";
import { $, announce, element, timeElement } from "./dom.js";
import * as links from "./links.js";

const SUB = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
let whoAmI = () => null;
let gallery = null; // the open collection's gallery
let opened = null; // the open collection, as last read

export function configure(currentUser, collectionGallery) {
  whoAmI = currentUser;
  gallery = collectionGallery;
  $("#collection-form").addEventListener("submit", create);
  $("#member-form").addEventListener("submit", addMember);
  $("#collection-back").addEventListener("click", () => {
    close();
    load();
  });
  links.configure();
}

function close() {
  opened = null;
  $("#collection-open").hidden = true;
  $("#collection-index").hidden = false;
  gallery.collectionId = null;
  gallery.clear();
}

export async function load() {
  const list = $("#collections");
  list.setAttribute("aria-busy", "true");
  const got = await api("GET", "collections");
  list.setAttribute("aria-busy", "false");
  if (!got.ok) {
    announce(`Your collections could not be loaded: ${messageOf(got)}`);
    return;
  }
  list.replaceChildren(
    ...got.data.collections.map((found) => {
      const button = element(
        "button",
        { type: "button", class: "collection-button", "data-id": found.id },
        element("span", { class: "name", text: found.name }),
        element("span", {
          class: "muted",
          text: found.owned ? "Yours" : `Shared by ${found.ownerName || "someone"}`,
        }),
      );
      button.addEventListener("click", () => open(found.id));
      return element("li", { "data-testid": "collection" }, button);
    }),
  );
  $("#collections-empty").hidden = got.data.collections.length > 0;
}

async function create(event) {
  event.preventDefault();
  const body = { name: $("#collection-name").value.trim() };
  const description = $("#collection-description").value.trim();
  if (description) body.description = description;
  const made = await api("POST", "collections", body);
  if (!made.ok) {
    $("#collection-message").textContent = `Not created: ${messageOf(made)}`;
    return;
  }
  $("#collection-form").reset();
  $("#collection-message").textContent = "";
  announce(`Collection ${made.data.name} created.`);
  await open(made.data.id);
}

function showMembers(found) {
  const me = whoAmI();
  const owner = found.ownerId === me.sub;
  $("#member-form").hidden = !owner;
  $("#members-count").textContent = `(${found.members.length})`;
  $("#members").replaceChildren(
    ...found.members.map((member) => {
      const role = member.userId === found.ownerId ? "owner" : "member";
      const parts =
        member.userId === me.sub
          ? [
              element("span", { class: "member-you", text: "You" }),
              element("span", { class: "muted", text: role }),
            ]
          : [
              element("span", { class: "member-id", text: member.username || member.userId }),
              element("span", { class: "muted", text: role }),
            ];
      if (owner && member.userId !== found.ownerId) {
        const remove = element("button", {
          type: "button",
          class: "quiet small",
          text: "Remove",
          "aria-label": `Remove ${member.userId}`,
        });
        remove.addEventListener("click", () => removeMember(member.userId));
        parts.push(remove);
      }
      return element("li", { "data-testid": "member", "data-user": member.userId }, ...parts);
    }),
  );
}

export async function open(collectionId) {
  const got = await api("GET", `collections/${path(collectionId)}`);
  if (!got.ok) {
    announce(`That collection cannot be opened: ${messageOf(got)}`);
    return;
  }
  opened = got.data;
  $("#collection-index").hidden = true;
  $("#collection-open").hidden = false;
  $("#collection-title").textContent = opened.name;
  $("#collection-about").replaceChildren(
    opened.description ? element("span", { text: `${opened.description} · ` }) : "",
    element("span", { text: `Made by ${opened.ownerName || opened.ownerId} on ` }),
    timeElement(opened.createdAt),
  );
  $("#member-message").textContent = "";
  showMembers(opened);
  await links.show(opened, opened.ownerId === whoAmI().sub);
  gallery.collectionId = opened.id;
  await gallery.load(true);
  $("#collection-title").focus();
}

async function addMember(event) {
  event.preventDefault();
  const who = $("#member-id").value.trim();
  // A user id is the pool's sub, a UUID; anything else is a user name, looked up by the service.
  const body = SUB.test(who) ? { userId: who } : { username: who };
  const added = await api("POST", `collections/${path(opened.id)}/members`, body);
  if (!added.ok) {
    $("#member-message").textContent =
      added.status === 404 && body.username
        ? `Not added: there is no user named ${who}.`
        : `Not added: ${messageOf(added)}`;
    return;
  }
  $("#member-id").value = "";
  $("#member-message").textContent = `${who} can now see and add to this collection.`;
  opened = added.data;
  showMembers(opened);
}

async function removeMember(userId) {
  const done = await api("DELETE", `collections/${path(opened.id)}/members/${path(userId)}`);
  if (!done.ok) {
    $("#member-message").textContent = `Not removed: ${messageOf(done)}`;
    return;
  }
  opened = { ...opened, members: opened.members.filter((member) => member.userId !== userId) };
  $("#member-message").textContent = `${userId} was removed.`;
  showMembers(opened);
}
