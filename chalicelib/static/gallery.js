// A gallery: a drop zone, the cards of a listing (my photos, or a collection's), paging, and
// each card following its image from queued through uploading and processing to ready or
// failed. The page has two: the main one and the open collection's.
import { api, messageOf, path } from "./api.js";
import { $, announce, element, formatBytes } from "./dom.js";
import { thumbHashToDataURL } from "./thumbhash.js";
import * as uploads from "./uploads.js";
import { declaredType, failureLong, failureShort, statusWord, typeList } from "./words.js";

const POLL_FAST_MS = 1000;
const POLL_SLOW_MS = 5000;
const POLL_FAST_FOR_MS = 60_000;
const POLL_GIVE_UP_MS = 15 * 60_000;
const REFRESH_EVERY_MS = 60_000;
const FINAL = new Set(["ready", "failed", "expired", "upload-failed"]);
const PAGE_SIZE = 24;

// The picture's ThumbHash as a tiny image, shown (blurred by the browser's upscaling) until
// the thumbnail arrives; null when the record has none.
export function placeholderOf(image) {
  if (!image.placeholder) return null;
  try {
    return thumbHashToDataURL(Uint8Array.from(atob(image.placeholder), (c) => c.charCodeAt(0)));
  } catch {
    return null;
  }
}

// Where a card's cover crop of the picture centres: its focal point, else the middle.
function positionOf(image) {
  const focus = image.focus;
  return focus ? `${(focus.x * 100).toFixed(1)}% ${(focus.y * 100).toFixed(1)}%` : "50% 50%";
}

// What a card says: the server's status, refined by what this page knows (an upload it is
// queueing or sending, or one it finished that the pipeline has not picked up yet).
export function phaseOf(entry) {
  if (["queued", "uploading", "upload-failed"].includes(entry.phase)) return entry.phase;
  const status = entry.image.status;
  if (status === "awaiting_upload") return entry.uploaded ? "processing" : "waiting";
  return status;
}

export function labelOf(entry) {
  const phase = phaseOf(entry);
  if (phase === "failed") return failureShort(entry.image.failure);
  if (phase === "upload-failed") return "Upload failed";
  if (phase === "uploading") return `Uploading ${entry.progress || 0}%`;
  if (phase === "queued") return "Queued";
  return statusWord(phase);
}

export function nameOf(image) {
  return image.title || image.filename;
}

export class Gallery {
  constructor(root, { config, onOpen, collectionId = null }) {
    this.root = root;
    this.config = config;
    this.onOpen = onOpen;
    this.collectionId = collectionId;
    this.cards = new Map();
    this.cursor = null;
    this.generation = 0;
    this.list = $("[data-part=gallery]", root);
    this.more = $("[data-part=more]", root);
    this.empty = $("[data-part=empty]", root);
    this.loading = $("[data-part=loading]", root);
    this.notices = $("[data-part=notices]", root);
    $("[data-part=limit]", root).textContent =
      `${typeList(config.uploadTypes)}, up to ${formatBytes(config.maxUploadBytes)} each.`;
    this.more.addEventListener("click", () => this.load(false));
    this.wireDropZone();
  }

  source() {
    return this.collectionId ? `collections/${path(this.collectionId)}/images` : "images";
  }

  clear() {
    this.generation += 1;
    this.cards.clear();
    this.cursor = null;
    this.list.replaceChildren();
    this.notices.replaceChildren();
    this.empty.hidden = true;
    this.more.hidden = true;
    this.loaded = false;
  }

  async load(fresh) {
    if (fresh) this.clear();
    this.loaded = true;
    const generation = this.generation;
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (this.cursor) query.set("cursor", this.cursor);
    this.more.disabled = true;
    this.list.setAttribute("aria-busy", "true");
    this.loading.hidden = !fresh;
    const page = await api("GET", `${this.source()}?${query}`);
    if (generation !== this.generation) return;
    this.more.disabled = false;
    this.loading.hidden = true;
    this.list.setAttribute("aria-busy", "false");
    if (!page.ok) {
      this.notice(`The photos could not be loaded: ${messageOf(page)}`);
      return;
    }
    const shown = [];
    for (const image of page.data.images) {
      if (this.cards.has(image.id)) continue; // already here (uploaded from this page)
      const entry = this.track(image);
      this.render(entry);
      this.list.append(entry.node);
      shown.push(entry);
    }
    this.cursor = page.data.cursor;
    this.more.hidden = !this.cursor;
    this.empty.hidden = this.cards.size > 0;
    await Promise.all(
      shown.map((entry) => {
        if (entry.image.status === "ready") return this.loadThumbnail(entry);
        if (entry.image.status === "processing") this.watch(entry);
        return null;
      }),
    );
  }

  track(image, extra = {}) {
    let entry = this.cards.get(image.id);
    if (!entry) {
      entry = {
        image,
        phase: null,
        uploaded: false,
        progress: 0,
        seen: [],
        node: element("li", { class: "card", "data-id": image.id, "data-testid": "card" }),
      };
      this.cards.set(image.id, entry);
    }
    Object.assign(entry, { image: { ...entry.image, ...image } }, extra);
    return entry;
  }

  render(entry) {
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
    if (image.failure) node.dataset.failure = image.failure.code;
    else delete node.dataset.failure;

    const thumb = element("span", { class: "thumb" });
    const preview = phase === "ready" ? placeholderOf(image) : null;
    if (preview) {
      const shown = element("img", {
        class: "preview",
        src: preview,
        alt: "",
        "data-testid": "placeholder",
      });
      shown.style.objectPosition = positionOf(image);
      thumb.classList.add("previewed");
      thumb.append(shown);
    }
    if (image.colors) thumb.style.backgroundColor = image.colors.average;
    if (entry.thumbnail) {
      const img = element("img", {
        src: entry.thumbnail,
        alt: "",
        loading: "lazy",
        decoding: "async",
      });
      img.style.objectPosition = positionOf(image);
      img.addEventListener("error", () => this.refreshLinks(entry));
      img.addEventListener("load", () => thumb.classList.add("loaded"));
      thumb.append(img);
    } else if (phase === "ready") {
      if (!preview) thumb.classList.add("pending"); // a shimmer until its link arrives
    } else {
      // A failure says why in the picture's place, so the card keeps the size of the others.
      const why =
        phase === "failed"
          ? failureLong(image.failure)
          : phase === "upload-failed"
            ? `Not uploaded: ${entry.reason}`
            : null;
      thumb.append(
        element(
          "span",
          { class: `placeholder ${phase}` },
          why ? element("span", { class: "why", text: why }) : null,
        ),
      );
    }
    // Its name is what it shows (the photo's name and status), so speech input can say it.
    const open = element(
      "button",
      { type: "button", class: "open" },
      thumb,
      element(
        "span",
        { class: "caption" },
        element("span", { class: "name", text: nameOf(image), title: nameOf(image) }),
        element("span", { class: `status ${phase}`, "data-testid": "status", text: label }),
      ),
    );
    open.disabled = phase === "uploading" || phase === "queued";
    open.addEventListener("click", () => this.onOpen(image.id, this));
    const parts = [open];
    if (phase === "uploading" || phase === "queued") {
      parts.push(
        element("progress", {
          max: "100",
          value: String(entry.progress || 0),
          "aria-label": `Upload of ${image.filename}`,
        }),
      );
    }
    const hadFocus = node.contains(document.activeElement);
    node.replaceChildren(...parts);
    if (hadFocus) open.focus();
    this.empty.hidden = true;
  }

  setProgress(entry, percent) {
    entry.progress = percent;
    const bar = entry.node.querySelector("progress");
    if (bar) bar.value = percent;
    const status = entry.node.querySelector(".status");
    if (status) status.textContent = labelOf(entry);
  }

  async refreshLinks(entry) {
    // Presigned links expire (after minutes); fetch fresh ones when a picture fails to load,
    // at most once a minute per card, so a picture that is really broken cannot loop.
    if (entry.refreshedAt && Date.now() - entry.refreshedAt < REFRESH_EVERY_MS) return;
    entry.refreshedAt = Date.now();
    await this.loadThumbnail(entry);
  }

  async loadThumbnail(entry) {
    const got = await api("GET", `images/${path(entry.image.id)}`);
    if (!got.ok) return;
    entry.image = got.data;
    entry.thumbnail = got.data.links ? got.data.links.thumbnail : null;
    this.render(entry);
  }

  // The image as the detail view last read or changed it.
  update(image) {
    const entry = this.cards.get(image.id);
    if (!entry) return;
    entry.image = { ...entry.image, ...image };
    if (image.links) entry.thumbnail = image.links.thumbnail || null;
    this.render(entry);
    if (!FINAL.has(phaseOf(entry))) this.watch(entry);
  }

  forget(imageId) {
    const entry = this.cards.get(imageId);
    if (entry) entry.node.remove();
    this.cards.delete(imageId);
    this.empty.hidden = this.cards.size > 0;
  }

  // Polls one unfinished image until it is ready, failed or expired: every second for the
  // first minute, then every five seconds, and not forever.
  watch(entry) {
    if (entry.watching) return;
    entry.watching = true;
    const started = Date.now();
    const poll = async () => {
      if (this.cards.get(entry.image.id) !== entry) return;
      const got = await api("GET", `images/${path(entry.image.id)}`);
      if (got.status === 404) {
        this.forget(entry.image.id);
        return;
      }
      if (got.ok) {
        entry.image = got.data;
        entry.thumbnail = got.data.links ? got.data.links.thumbnail : null;
        this.render(entry);
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

  notice(text) {
    const dismiss = element("button", {
      type: "button",
      class: "quiet small",
      "aria-label": "Dismiss",
      text: "×",
    });
    const item = element(
      "li",
      { class: "notice", "data-testid": "notice" },
      element("span", { text }),
      dismiss,
    );
    dismiss.addEventListener("click", () => item.remove());
    this.notices.prepend(item);
    announce(text);
  }

  async uploadFile(file) {
    const { maxUploadBytes: limit, uploadTypes } = this.config;
    const refuse = (why) => {
      uploads.refused();
      this.notice(`${file.name} was not uploaded: ${why}`);
    };
    if (file.size === 0) return refuse("the file is empty.");
    if (file.size > limit)
      return refuse(`it is ${formatBytes(file.size)}, the limit is ${formatBytes(limit)}.`);
    const contentType = declaredType(file, uploadTypes);
    if (!contentType)
      return refuse(`it is not a photo. The service takes ${typeList(uploadTypes)} files.`);
    const body = { filename: file.name, contentType };
    if (this.collectionId) body.collectionId = this.collectionId;
    const created = await api("POST", "images", body);
    if (!created.ok) return refuse(messageOf(created));

    const entry = this.track(created.data.image);
    this.list.prepend(entry.node);
    await this.send(entry, created.data.upload, file);
    return null;
  }

  // Sends a file for a card (a new image, or a replacement of one) and follows it.
  async send(entry, upload, file) {
    Object.assign(entry, { phase: "queued", progress: 0, uploaded: false });
    this.render(entry);
    const outcome = await uploads.send(upload, file, {
      onStart: () => {
        entry.phase = "uploading";
        this.render(entry);
      },
      onProgress: (percent) => this.setProgress(entry, percent),
    });
    if (outcome.ok) {
      Object.assign(entry, { phase: null, uploaded: true, progress: 100 });
      this.render(entry);
      this.watch(entry);
    } else {
      Object.assign(entry, { phase: "upload-failed", reason: outcome.reason });
      this.render(entry);
    }
    return outcome;
  }

  async replace(image, upload, file) {
    uploads.begin(1);
    const entry = this.cards.get(image.id);
    if (!entry) return uploads.send(upload, file);
    entry.image = { ...entry.image, ...image };
    return this.send(entry, upload, file);
  }

  uploadAll(files) {
    uploads.begin(files.length);
    return Promise.all(Array.from(files).map((file) => this.uploadFile(file)));
  }

  wireDropZone() {
    const zone = $("[data-part=drop-zone]", this.root);
    const input = $("[data-part=file-input]", this.root);
    input.addEventListener("change", () => {
      this.uploadAll(input.files);
      input.value = "";
    });
    zone.addEventListener("click", () => {
      input.click();
    });
    zone.addEventListener("keydown", (event) => {
      if (event.target === zone && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        input.click();
      }
    });
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
    zone.addEventListener("dragleave", (event) => {
      if (!zone.contains(event.relatedTarget)) zone.classList.remove("over");
    });
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      this.uploadAll(event.dataTransfer.files);
    });
  }
}
