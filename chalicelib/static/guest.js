// The page as a guest of a share link (#share=<token>): no sign-in; the collection's ready
// photos, and for an upload link a file picker whose photos go straight to storage with
// presigned POSTs, as a member's do. Every call to the service is one use of the link.
import { $, announce, element } from "./dom.js";
import * as uploads from "./uploads.js";

let token = null;

export const tokenIn = (hash) =>
  hash.startsWith("#share=") ? decodeURIComponent(hash.slice(7)) : null;

async function call(method, path, body) {
  const headers = { "X-Share-Token": token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  try {
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, data };
  } catch {
    return { ok: false, status: 0, data: { Message: "The service cannot be reached; try again." } };
  }
}

const WHY = {
  ShareLinkExpiredError: "This link has expired; ask whoever sent it for a new one.",
  ShareLinkRevokedError: "This link was withdrawn by whoever shared it.",
  ShareLinkUsedUpError: "This link has been used as many times as it allows.",
  InvalidShareLinkError: "This is not a working share link; check that it was copied whole.",
};

function refused(result) {
  return WHY[result.data.Code] || result.data.Message || `The service answered ${result.status}.`;
}

function card(image) {
  const preview = image.variants.preview || image.variants.thumbnail;
  const thumbnail = image.variants.thumbnail || preview;
  const label = image.title || "A photo";
  return element(
    "li",
    { class: "guest-card", "data-id": image.id },
    element(
      "a",
      { href: preview.url, target: "_blank", rel: "noopener" },
      element("img", {
        src: thumbnail.url,
        alt: label,
        width: thumbnail.width,
        height: thumbnail.height,
        loading: "lazy",
      }),
    ),
    image.title ? element("p", { text: image.title }) : null,
  );
}

async function loadImages() {
  const got = await call("GET", "shared/images?limit=100");
  if (!got.ok) {
    $("#guest-error").textContent = refused(got);
    return [];
  }
  $("#guest-gallery").replaceChildren(...got.data.images.map(card));
  $("#guest-empty").hidden = got.data.images.length > 0;
  return got.data.images.map((image) => image.id);
}

async function waitFor(imageId) {
  // A photo appears once processed (about a second); a failed one never does.
  for (let tries = 0; tries < 10; tries += 1) {
    await new Promise((resolve) => {
      setTimeout(resolve, 2000);
    });
    if ((await loadImages()).includes(imageId)) return true;
  }
  return false;
}

async function sendOne(file) {
  const body = {
    filename: file.name,
    contentType: file.type || "application/octet-stream",
    bytes: file.size,
  };
  const made = await call("POST", "shared/images", body);
  if (!made.ok) return `${file.name}: ${refused(made)}`;
  const sent = await uploads.send(made.data.upload, file);
  if (!sent.ok) return `${file.name}: not uploaded (${sent.reason})`;
  const shown = await waitFor(made.data.image.id);
  return shown
    ? `${file.name} was added.`
    : `${file.name} was sent; it is not shown, so it may not be a photo the service accepts.`;
}

async function upload(event) {
  const files = Array.from(event.target.files);
  event.target.value = "";
  if (!files.length) return;
  uploads.begin(files.length);
  $("#guest-message").textContent =
    `Sending ${files.length} ${files.length === 1 ? "photo" : "photos"}…`;
  const outcomes = await Promise.all(files.map(sendOne));
  $("#guest-message").textContent = outcomes.join(" ");
  announce(outcomes.join(" "));
}

export async function start(shareToken) {
  token = shareToken;
  document.body.dataset.guest = "true";
  $("#sign-in-view").hidden = true;
  $("#guest-view").hidden = false;
  const found = await call("GET", "shared");
  if (!found.ok) {
    $("#guest-error").textContent = refused(found);
    return;
  }
  const { collection, scope } = found.data;
  $("#guest-title").textContent = collection.name;
  $("#guest-about").textContent = [
    collection.description,
    scope === "upload"
      ? "You may look at these photos and add yours."
      : "You may look at these photos.",
  ]
    .filter(Boolean)
    .join(" · ");
  if (scope === "upload") {
    $("#guest-upload").hidden = false;
    $("#guest-file-input").addEventListener("change", upload);
  }
  await loadImages();
  $("#guest-title").focus();
}
