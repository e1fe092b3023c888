// The processing log: every upload, newest first, each row linking to its image. Admins may
// switch to everyone's uploads. On a phone each row is a small card (see style.css).
import { api, messageOf } from "./api.js";
import { $, announce, element, formatDuration, laterTimeElement, timeElement } from "./dom.js";
import { failureLong, failureShort, statusWord } from "./words.js";

let cursor = null;
let everyone = false;
let openImage = () => {};
let generation = 0;

export function configure(onOpen) {
  openImage = onOpen;
  $("#log-more").addEventListener("click", () => load(false));
  $("#log-everyone").addEventListener("change", (event) => {
    everyone = event.target.checked;
    load(true);
  });
}

export function showAdmin(isAdmin) {
  $("#log-scope").hidden = !isAdmin;
  if (!isAdmin) {
    everyone = false;
    $("#log-everyone").checked = false;
  }
}

function cell(label, ...content) {
  return element("td", { "data-label": label }, ...content);
}

function row(upload) {
  const name = upload.deletedAt
    ? element("span", { class: "name", text: upload.filename, title: "This image was deleted" })
    : element("button", {
        type: "button",
        class: "link name",
        "data-image": upload.imageId,
        text: upload.filename,
        "aria-label": `Open ${upload.filename}`,
      });
  if (!upload.deletedAt) name.addEventListener("click", () => openImage(upload.imageId));
  const status =
    upload.status === "failed" ? failureShort(upload.failure) : statusWord(upload.status);
  const why = upload.failure
    ? failureLong(upload.failure)
    : upload.replaces
      ? "Replaced the photo."
      : "";
  return element(
    "tr",
    {
      "data-status": upload.status,
      "data-image": upload.imageId,
      "data-failure": upload.failure ? upload.failure.code : null,
    },
    cell("File", name),
    everyone ? cell("By", upload.uploader ? upload.uploader.name : "") : null,
    cell("Status", element("span", { class: `status ${upload.status}`, text: status })),
    cell(
      "Details",
      why ? element("span", { text: why, title: upload.failure ? upload.failure.code : null }) : "",
    ),
    cell("Started", timeElement(upload.createdAt)),
    cell("Processed", laterTimeElement(upload.processedAt, upload.createdAt)),
    cell("Took", formatDuration(upload.durationMs)),
  );
}

export async function load(fresh) {
  if (fresh) {
    generation += 1;
    cursor = null;
    $("#log tbody").replaceChildren();
    $("#log-by").hidden = !everyone;
    $("#log").dataset.everyone = String(everyone);
  }
  const mine = generation;
  const query = new URLSearchParams({ limit: "50" });
  if (everyone) query.set("all", "true");
  if (cursor) query.set("cursor", cursor);
  $("#log").setAttribute("aria-busy", "true");
  const page = await api("GET", `uploads?${query}`);
  if (mine !== generation) return;
  $("#log").setAttribute("aria-busy", "false");
  if (!page.ok) {
    announce(`The log could not be loaded: ${messageOf(page)}`);
    return;
  }
  $("#log tbody").append(...page.data.uploads.map(row));
  cursor = page.data.cursor;
  $("#log-more").hidden = !cursor;
  $("#log-empty").hidden = $("#log tbody").children.length > 0 || Boolean(cursor);
}
