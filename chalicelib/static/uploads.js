// Sending files to storage with presigned POSTs, at most PARALLEL at a time however many are
// dropped (the rest wait their turn), and a running summary of the batch.
import { $ } from "./dom.js";

const PARALLEL = 3;
const queue = [];
let running = 0;
const batch = { total: 0, done: 0, failed: 0 };

// Files dropped or chosen together are a batch; one dropped while a batch is still being sent
// joins it, one dropped after it is done starts a new one.
export function begin(count) {
  if (batch.done + batch.failed === batch.total)
    Object.assign(batch, { total: 0, done: 0, failed: 0 });
  batch.total += count;
  showSummary();
}

function storageRefusal(request) {
  // S3 explains a refusal in an XML body: <Error><Code>..</Code><Message>..</Message></Error>.
  const xml = new DOMParser().parseFromString(request.responseText || "", "application/xml");
  const message = xml.querySelector("Message");
  return message ? message.textContent : `storage answered ${request.status}`;
}

function post(upload, file, onProgress) {
  return new Promise((resolve) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
    form.append("file", file); // last: S3 ignores every field after the file
    const request = new XMLHttpRequest();
    request.open("POST", upload.url);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(Math.round((event.loaded / event.total) * 100));
    });
    request.addEventListener("load", () =>
      resolve(
        request.status >= 200 && request.status < 300
          ? { ok: true }
          : { ok: false, reason: storageRefusal(request) },
      ),
    );
    request.addEventListener("error", () =>
      resolve({ ok: false, reason: "the connection failed" }),
    );
    request.send(form);
  });
}

function showSummary() {
  const summary = $("#upload-summary");
  const left = batch.total - batch.done - batch.failed;
  if (batch.total === 0) {
    summary.hidden = true;
    return;
  }
  summary.hidden = false;
  const parts = [];
  if (left > 0) parts.push(`Uploading ${batch.total - left} of ${batch.total}`);
  else parts.push(`${batch.total} ${batch.total === 1 ? "file" : "files"} sent`);
  if (batch.done) parts.push(`${batch.done} uploaded`);
  if (batch.failed) parts.push(`${batch.failed} not uploaded`);
  summary.textContent = parts.join(" · ");
  summary.dataset.left = String(left);
}

function next() {
  while (running < PARALLEL && queue.length) {
    const job = queue.shift();
    running += 1;
    job.onStart();
    post(job.upload, job.file, job.onProgress).then((outcome) => {
      running -= 1;
      if (outcome.ok) batch.done += 1;
      else batch.failed += 1;
      showSummary();
      job.resolve(outcome);
      next();
    });
  }
}

// Queues one file of the batch; resolves with {ok} or {ok: false, reason} once it is sent.
export function send(upload, file, { onStart = () => {}, onProgress = () => {} } = {}) {
  return new Promise((resolve) => {
    queue.push({ upload, file, onStart, onProgress, resolve });
    next();
  });
}

// A file of the batch refused before it was queued.
export function refused() {
  batch.failed += 1;
  showSummary();
}
