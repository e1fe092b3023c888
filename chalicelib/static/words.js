// What the page says to a person: statuses and failure codes in plain words. The codes stay
// in data attributes (and in the log's details) for whoever needs them.

const FAILURES = {
  empty: ["Empty file", "The file is empty."],
  not_an_image: ["Not a picture", "This file is not a picture in any format the service reads."],
  unsupported_format: [
    "Format not supported",
    "This kind of picture cannot be processed yet; try a JPEG or PNG.",
  ],
  too_many_pixels: [
    "Too many pixels",
    "The picture has more pixels than the service processes; make it smaller and try again.",
  ],
  corrupt: ["Damaged file", "The picture is damaged or incomplete; upload it again."],
  too_large: ["File too large", "The file is larger than the upload limit."],
  missing: [
    "Upload lost",
    "The uploaded file was gone before it could be processed; upload it again.",
  ],
  processing_timeout: [
    "Not processed",
    "Processing did not finish after several tries; upload it again.",
  ],
  upload_expired: ["Never arrived", "No file arrived before the upload link expired."],
  superseded: ["Replaced", "A newer upload replaced this one before it finished."],
};

export function failureShort(failure) {
  if (!failure) return "Failed";
  return (FAILURES[failure.code] || ["Failed"])[0];
}

export function failureLong(failure) {
  if (!failure) return "Processing failed.";
  const known = FAILURES[failure.code];
  return known ? known[1] : sentence(failure.message || "Processing failed.");
}

function sentence(text) {
  const trimmed = String(text).trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

const STATUS = {
  awaiting_upload: "Waiting for upload",
  waiting: "Waiting for upload",
  processing: "Processing…",
  ready: "Ready",
  failed: "Failed",
  expired: "Expired",
  deleted: "Deleted",
  "upload-failed": "Upload failed",
};

export function statusWord(status) {
  return STATUS[status] || status;
}

const TYPE_NAMES = {
  "image/jpeg": "JPEG",
  "image/png": "PNG",
  "image/gif": "GIF",
  "image/webp": "WebP",
  "image/tiff": "TIFF",
  "image/bmp": "BMP",
  "image/avif": "AVIF",
  "image/heic": "HEIC",
  "image/heif": "HEIF",
};

// Browsers leave file.type empty for some formats (HEIC on most desktops); the extension says.
const BY_EXTENSION = {
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  gif: "image/gif",
  webp: "image/webp",
  tif: "image/tiff",
  tiff: "image/tiff",
  bmp: "image/bmp",
  avif: "image/avif",
  heic: "image/heic",
  heif: "image/heif",
};

export function declaredType(file, accepted) {
  const type = (file.type || "").toLowerCase();
  if (accepted.includes(type)) return type;
  if (type && type !== "application/octet-stream") return null;
  const extension = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
  return accepted.includes(BY_EXTENSION[extension]) ? BY_EXTENSION[extension] : null;
}

export function typeList(accepted) {
  const names = accepted.map(
    (type) => TYPE_NAMES[type] || type.replace("image/", "").toUpperCase(),
  );
  return `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`;
}

export function sentenceOf(text) {
  return sentence(text);
}
