// The sharp competitor of `make bench` (scripts/bench.py), in Node.js as sharp is used: the
// same worker protocol as bench.py's Python workers, timed inside Node.
//
//     node scripts/bench_sharp.mjs sharp|sharp-1t IMAGE TINY TASK_JSON OUTPUTS
//
// Written as sharp's documentation recommends for several outputs of one input: one
// shrink-on-load decode (sharp picks the JPEG/WebP load scale itself from the resize) with
// sequentialRead, to the smallest size that covers every output, kept as raw pixels; each
// output then resized from those pixels (Lanczos 3, sharp's default kernel) and encoded.
// "sharp" runs the outputs side by side (Promise.all; libvips and libuv default threads);
// "sharp-1t" one after another with sharp.concurrency(1) and UV_THREADPOOL_SIZE=1 (set by
// bench.py). Encoders: JPEG quality 85, WebP quality 85 effort 4 (transparent sources), a
// render's own format and quality at sharp's default effort.
//
// Protocol: after a warm-up on TINY and one measured run (peak RSS increase, from the
// kernel's VmHWM), one line of JSON per "run" line on stdin: {"ms", "cpu_ms"}, where CPU is
// process.cpuUsage() (user + system, every thread of the process).
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { join } from "node:path";

const require = createRequire(join(process.cwd(), ".cache", "sharp", "package.json"));
const sharp = require("sharp");

const [implementation, imagePath, tinyPath, taskJson, outputsDir] = process.argv.slice(2);
const task = { outputs: JSON.parse(taskJson) };
const oneThread = implementation === "sharp-1t";
sharp.cache(false); // repeated runs on the same bytes must not be served from cache
if (oneThread) sharp.concurrency(1);

function contained([width, height], output) {
  const scale = Math.min(output.width / width, output.height / height, 1);
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

function covering([width, height], output) {
  const scale = Math.max(output.width / width, output.height / height);
  return [
    Math.max(output.width, Math.round(width * scale)),
    Math.max(output.height, Math.round(height * scale)),
  ];
}

function scaledSize(source, output) {
  if (output.fit === "cover") return covering(source, output);
  if (output.fit === "fill") return [output.width, output.height];
  return contained(source, output);
}

function encode(pipeline, output, transparent) {
  const format = output.format ?? (transparent ? "webp" : "jpeg");
  if (format === "jpeg") return pipeline.jpeg({ quality: output.quality });
  if (format === "webp") return pipeline.webp({ quality: output.quality, effort: 4 });
  if (format === "avif") return pipeline.avif({ quality: output.quality });
  return pipeline.png();
}

async function run(data) {
  const meta = await sharp(data).metadata();
  const sideways = (meta.orientation ?? 1) >= 5;
  const source = sideways ? [meta.height, meta.width] : [meta.width, meta.height];
  const sizes = task.outputs.map((output) => scaledSize(source, output));
  const needed = [
    Math.min(source[0], Math.max(...sizes.map((size) => size[0]))),
    Math.min(source[1], Math.max(...sizes.map((size) => size[1]))),
  ];
  const scale = Math.max(needed[0] / source[0], needed[1] / source[1]);
  const target = [Math.ceil(source[0] * scale), Math.ceil(source[1] * scale)];
  let decode = sharp(data, { sequentialRead: true }).autoOrient();
  if (target[0] < source[0] || target[1] < source[1]) {
    decode = decode.resize(target[0], target[1], { fit: "inside" });
  }
  const base = await decode.raw().toBuffer({ resolveWithObject: true });
  const { width, height, channels } = base.info;
  const transparent = channels === 4 || channels === 2;

  const make = (output, index) => {
    let pipeline = sharp(base.data, { raw: { width, height, channels } });
    const [w, h] = sizes[index];
    if (output.fit === "cover") {
      pipeline = pipeline.resize(output.width, output.height, { fit: "cover" });
    } else if (w !== width || h !== height) {
      pipeline = pipeline.resize(w, h, { fit: "fill" });
    }
    if (output.rotate) pipeline = pipeline.rotate(output.rotate);
    return encode(pipeline, output, transparent).toBuffer();
  };
  if (!oneThread) return Promise.all(task.outputs.map(make));
  const made = [];
  for (const [index, output] of task.outputs.entries()) made.push(await make(output, index));
  return made;
}

function peakRssMb() {
  const line = readFileSync("/proc/self/status", "utf8")
    .split("\n")
    .find((text) => text.startsWith("VmHWM:"));
  return Number(line.split(/\s+/)[1]) / 1024;
}

function answer(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

async function main() {
  const data = readFileSync(imagePath);
  await run(readFileSync(tinyPath));
  globalThis.gc?.();
  const baseline = peakRssMb();
  const firstStarted = process.hrtime.bigint();
  const firstCpu = process.cpuUsage();
  const made = await run(data);
  const firstWall = Number(process.hrtime.bigint() - firstStarted) / 1e6;
  const firstUsage = process.cpuUsage(firstCpu);
  const rss = peakRssMb() - baseline;
  mkdirSync(outputsDir, { recursive: true });
  task.outputs.forEach((output, index) => {
    writeFileSync(join(outputsDir, `${implementation}-${output.name}`), made[index]);
  });
  // The first run's times stand in only for a case timed no further.
  answer({
    rss_mb: Math.round(rss * 10) / 10,
    bytes: made.map((buffer) => buffer.length),
    ms: firstWall,
    cpu_ms: (firstUsage.user + firstUsage.system) / 1000,
  });
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() !== "run") break;
    globalThis.gc?.();
    const started = process.hrtime.bigint();
    const cpuStarted = process.cpuUsage();
    await run(data);
    const wall = Number(process.hrtime.bigint() - started) / 1e6;
    const cpu = process.cpuUsage(cpuStarted);
    answer({ ms: wall, cpu_ms: (cpu.user + cpu.system) / 1000 });
  }
}

main().catch((error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
