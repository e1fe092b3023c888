"""The processing benchmark (`make bench`): our variants against naive Pillow, the floor,
thumbor's Pillow engine and pyvips, side by side in one run.

    .venv/bin/python scripts/bench.py            the full run (< 10 minutes), prints one table
                                                 and writes .bench/results.json
    .venv/bin/python scripts/bench.py --smoke    one small generated image, no competitors,
                                                 one repetition: checks the machinery only

Every implementation makes the default variants of one upload from the same bytes, each in
its own fresh worker process (this script with --worker), so the peak RSS of one cannot leak
into another's. A worker warms up on a tiny image of the same format, takes its peak RSS as
the baseline and processes the image once (the peak RSS increase); then the workers of an
image are timed in interleaved rounds (--repeat, default 9), medians reported.
Competitors run from .bench/venv, built here from scripts/bench-requirements.txt; ours, naive
and the floor run from the interpreter running this script.

- naive:   full decode, LANCZOS from full size for each variant, crop, rotate(180), save.
- ours:    imaging.probe + imaging.make_upload (the variants, and what knowing learns).
- ours-pillow: the same with Pillow's resampler instead of cykooz.resizer's, as on Linux
           arm64, which has no cykooz.resizer wheel.
- floor:   decode at the JPEG draft scale the largest variant needs, then encode a region of
           each variant's final size: what any pipeline pays before it resizes anything.
- thumbor: thumbor.engines.pil.Engine as thumbor runs it, one request per variant:
           load, resize, crop, rotate, read.
- pyvips:  thumbnail_buffer per variant (crop="centre" for cover), rot180, save.

Also measured: how far each output is from naive's (mean absolute difference per channel,
0-255), AWS calls per processed upload (moto, counted with a botocore hook) and the API
function's cold import (`python -X importtime -c "import app"` with the dev stage's env).
"""

import argparse
import gc
import hashlib
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chalicelib.specs import DEFAULT_VARIANTS, Fit, VariantSpec  # noqa: E402

BENCH = ROOT / ".bench"
VENV = BENCH / "venv"
REQUIREMENTS = ROOT / "scripts" / "bench-requirements.txt"
REGION = "us-east-1"
REPEAT = 9
# The settings imaging uses for variants, so every implementation encodes the same way.
JPEG_QUALITY = 85
WEBP_QUALITY = 85
WEBP_METHOD = 4

Run = Callable[[bytes], list[bytes]]


# --- the implementations (run inside workers) ---------------------------------------------


def contained(source: tuple[int, int], spec: VariantSpec) -> tuple[int, int]:
    scale = min(spec.width / source[0], spec.height / source[1], 1.0)
    return max(1, round(source[0] * scale)), max(1, round(source[1] * scale))


def covering(
    source: tuple[int, int], spec: VariantSpec
) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """The size to scale to, and the centred box of the spec's size to cut from it."""
    scale = max(spec.width / source[0], spec.height / source[1])
    scaled = (max(spec.width, round(source[0] * scale)), max(spec.height, round(source[1] * scale)))
    left, top = (scaled[0] - spec.width) // 2, (scaled[1] - spec.height) // 2
    return scaled, (left, top, left + spec.width, top + spec.height)


def _transparent(image) -> bool:
    return image.mode in ("RGBA", "LA") or "transparency" in image.info


def _save(image, transparent: bool) -> bytes:
    buffer = io.BytesIO()
    if transparent:
        image.save(buffer, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
    else:
        image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def make_naive() -> Run:
    from PIL import Image

    def run(data: bytes) -> list[bytes]:
        image = Image.open(io.BytesIO(data))
        image.load()
        transparent = _transparent(image)
        outputs = []
        for spec in DEFAULT_VARIANTS:
            if spec.fit == Fit.COVER:
                scaled, crop = covering(image.size, spec)
                variant = image.resize(scaled, Image.Resampling.LANCZOS).crop(crop)
            else:
                variant = image.resize(contained(image.size, spec), Image.Resampling.LANCZOS)
            if spec.rotate:
                variant = variant.rotate(-spec.rotate)
            outputs.append(_save(variant, transparent))
        return outputs

    return run


def make_ours() -> Run:
    from chalicelib import imaging

    formats = frozenset({"jpeg", "png", "gif", "webp", "tiff", "bmp"})

    def run(data: bytes) -> list[bytes]:
        probe = imaging.probe(data, allowed_formats=formats, max_pixels=50_000_000)
        made = imaging.make_upload(data, probe, DEFAULT_VARIANTS)  # variants and knowledge
        return [variant.data for variant in made.variants]

    return run


def make_ours_with_pillow() -> Run:
    """Ours as it runs where cykooz.resizer has no wheel (Linux arm64): Pillow resamples."""
    from chalicelib.imaging import shaping

    shaping.cykooz_resizer = None
    return make_ours()


def make_floor() -> Run:
    from PIL import Image

    def run(data: bytes) -> list[bytes]:
        image = Image.open(io.BytesIO(data))
        finals, needed = [], [1, 1]
        for spec in DEFAULT_VARIANTS:
            if spec.fit == Fit.COVER:
                scaled, _ = covering(image.size, spec)
                final = (spec.width, spec.height)
            else:
                scaled = final = contained(image.size, spec)
            needed = [max(needed[0], scaled[0]), max(needed[1], scaled[1])]
            finals.append(final)
        if image.format == "JPEG":
            image.draft(None, (needed[0], needed[1]))
        image.load()
        transparent = _transparent(image)
        return [_save(image.crop((0, 0, *final)), transparent) for final in finals]

    return run


def make_thumbor() -> Run:
    from thumbor.config import Config
    from thumbor.context import Context
    from thumbor.engines.pil import Engine
    from thumbor.importer import Importer

    config = Config()
    importer = Importer(config)
    importer.import_modules()
    context = Context(config=config, importer=importer)

    def run(data: bytes) -> list[bytes]:
        outputs = []
        for spec in DEFAULT_VARIANTS:
            # One engine per variant: to thumbor each variant is its own request.
            engine = Engine(context)
            engine.load(data, None)
            if spec.fit == Fit.COVER:
                scaled, crop = covering(engine.size, spec)
                engine.resize(*scaled)
                engine.crop(*crop)
            else:
                engine.resize(*contained(engine.size, spec))
            if spec.rotate:
                engine.rotate(360 - spec.rotate)  # thumbor, like PIL, turns counter-clockwise
            extension = ".webp" if _transparent(engine.image) else ".jpg"
            outputs.append(engine.read(extension, JPEG_QUALITY))
        return outputs

    return run


def make_pyvips() -> Run:
    import pyvips

    pyvips.cache_set_max(0)  # repeated runs on the same bytes must not be served from cache
    keep = pyvips.enums.ForeignKeep.ICC  # like ours: the colour profile, no other metadata
    turns = {90: "rot90", 180: "rot180", 270: "rot270"}

    def run(data: bytes) -> list[bytes]:
        outputs = []
        for spec in DEFAULT_VARIANTS:
            if spec.fit == Fit.COVER:
                image = pyvips.Image.thumbnail_buffer(
                    data, spec.width, height=spec.height, crop="centre"
                )
            else:
                image = pyvips.Image.thumbnail_buffer(
                    data, spec.width, height=spec.height, size="down"
                )
            if spec.rotate:
                image = getattr(image, turns[spec.rotate])()
            if image.hasalpha():
                outputs.append(image.webpsave_buffer(Q=WEBP_QUALITY, effort=WEBP_METHOD, keep=keep))
            else:
                outputs.append(image.jpegsave_buffer(Q=JPEG_QUALITY, keep=keep))
        return outputs

    return run


IMPLEMENTATIONS: dict[str, Callable[[], Run]] = {
    "naive": make_naive,
    "ours": make_ours,
    "ours-pillow": make_ours_with_pillow,
    "floor": make_floor,
    "thumbor": make_thumbor,
    "pyvips": make_pyvips,
}
COMPETITORS = ("thumbor", "pyvips")


# --- the worker ---------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    """This process's peak resident memory. On Linux, from the kernel's high-water mark of
    the running image (VmHWM): ru_maxrss also carries the parent's peak across fork and exec,
    so a worker started by a large parent would report the parent's peak, not its own."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _tiny_like(data: bytes) -> bytes:
    """A small image of the same format and mode, to warm codecs and pools before measuring."""
    from PIL import Image

    source = Image.open(io.BytesIO(data))
    tiny = Image.new(source.mode, (64, 48))
    buffer = io.BytesIO()
    tiny.save(buffer, source.format)
    return buffer.getvalue()


def worker(implementation: str, image: Path, outputs: Path | None) -> None:
    """Measure the peak RSS of one run, then time one more run per "run" line on stdin.

    Driven by the orchestrator, which asks every implementation's worker in turn, so that
    whatever else the machine is doing falls on all of them alike."""
    run = IMPLEMENTATIONS[implementation]()
    data = image.read_bytes()
    run(_tiny_like(data))
    gc.collect()
    baseline = _peak_rss_mb()
    made = run(data)
    rss = _peak_rss_mb() - baseline
    if outputs is not None:
        outputs.mkdir(parents=True, exist_ok=True)
        for spec, variant in zip(DEFAULT_VARIANTS, made, strict=True):
            (outputs / f"{implementation}-{spec.name}").write_bytes(variant)
    _answer({"rss_mb": round(rss, 1), "bytes": [len(variant) for variant in made]})
    for command in sys.stdin:
        if command.strip() != "run":
            break
        gc.collect()
        started, cpu_started = time.perf_counter(), time.process_time()
        run(data)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        _answer({"ms": wall * 1000, "cpu_ms": cpu * 1000})


def _answer(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


# --- the images ---------------------------------------------------------------------------

CORPUS_IMAGES = (
    "photo-20mp-kleiber.jpg",
    "art-24mp-painting.jpg",
    "png-rgba-15mp-patak.png",
    "webp-16mp-pixels.webp",
)
BASELINE = "generated-24mp-photo.jpg"
PROGRESSIVE = "generated-18mp-progressive.jpg"


def images(folder: Path) -> list[Path]:
    """The corpus photos (fetched if missing) and two JPEGs generated from a real photo."""
    from tests.support import corpus

    photos = corpus.photos()
    folder.mkdir(parents=True, exist_ok=True)
    baseline, progressive = folder / BASELINE, folder / PROGRESSIVE
    if not baseline.exists():
        _generate_baseline(photos / "photo-12mp-sunset.jpg", baseline)
    if not progressive.exists():
        _generate_progressive(photos / "photo-20mp-kleiber.jpg", progressive)
    found = [photos / name for name in CORPUS_IMAGES]
    return [found[0], found[1], baseline, progressive, found[2], found[3]]


def _generate_baseline(photo: Path, target: Path) -> None:
    """6000x4000 baseline: a real 3:2 photo scaled up, with sensor-like grain so it carries
    the detail (and the decode cost) of a real 24 MP photo rather than a smooth upscale."""
    from PIL import Image

    size = (6000, 4000)
    picture = Image.open(photo).convert("RGB").resize(size, Image.Resampling.BICUBIC)
    grain = Image.frombytes("L", size, random.Random(24).randbytes(size[0] * size[1]))
    grainy = Image.blend(picture, Image.merge("RGB", (grain, grain, grain)), 0.06)
    grainy.save(target, "JPEG", quality=90)


def _generate_progressive(photo: Path, target: Path) -> None:
    from PIL import Image

    picture = Image.open(photo).convert("RGB").resize((5196, 3464), Image.Resampling.LANCZOS)
    picture.save(target, "JPEG", quality=90, progressive=True)


def _smoke_image(folder: Path) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "smoke-800x600.jpg"
    gradient = Image.linear_gradient("L").resize((800, 600))
    Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_180), gradient)).save(
        target, "JPEG", quality=90
    )
    return target


# --- the competitors' environment ---------------------------------------------------------


def competitors_python() -> Path:
    """.bench/venv with the pinned competitors, rebuilt when the requirements change."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".requirements-sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    base = subprocess.run(
        ["sh", str(ROOT / "scripts" / "find-python.sh")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(f"building {VENV.relative_to(ROOT)} with {base} ...", flush=True)
    subprocess.run([base, "-m", "venv", "--clear", str(VENV)], check=True)
    installed = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(REQUIREMENTS),
        ],
        capture_output=True,
        text=True,
    )
    if installed.returncode != 0:
        sys.exit(f"could not install the competitors:\n{installed.stderr[-3000:]}")
    stamp.write_text(wanted)
    return python


# --- the other measurements ---------------------------------------------------------------


def aws_calls(image: Path) -> dict:
    """Process one real upload end to end under moto and count the AWS operations it makes."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    fake = "testing"  # moto accepts any credentials; these only keep boto3 from looking
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ[name] = fake
    os.environ.update(AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION)
    from moto import mock_aws

    from chalicelib import aws, image_operations, processing, settings
    from chalicelib.access import Access
    from chalicelib.images import Caller
    from devserver import provision

    with mock_aws():
        outputs = provision.provision(None, REGION)
        os.environ.update(
            BUCKET_NAME=outputs.bucket,
            TABLE_NAME=outputs.table,
            USER_POOL_ID=outputs.user_pool_id,
            USER_POOL_ARN=outputs.user_pool_arn,
            APP_CLIENT_ID=outputs.app_client_id,
        )
        settings.get.cache_clear()
        aws.reset()
        created = image_operations.create_image(
            Access(Caller(id="bench", name="bench")),
            {"filename": image.name, "contentType": "image/jpeg"},
        )
        key = created["upload"]["fields"]["key"]
        aws.client("s3").put_object(Bucket=settings.get().bucket, Key=key, Body=image.read_bytes())
        calls: Counter[str] = Counter()

        def count(model, **_):
            calls[model.name] += 1

        for client in (aws.client("s3"), aws.table().meta.client):
            client.meta.events.register("before-call.*.*", count)
        outcome = processing.process(key)
    return {"image": image.name, "outcome": outcome, "total": sum(calls.values()), **calls}


_IMPORT_CHECK = (
    "import json, sys\n"
    "import app\n"
    "from chalicelib import aws\n"
    "print(json.dumps({\n"
    "    'pil_imported': any(m == 'PIL' or m.startswith('PIL.') for m in sys.modules),\n"
    "    'boto3_imported': 'boto3' in sys.modules,\n"
    "    'clients_created': aws.client.cache_info().currsize + aws.table.cache_info().currsize,\n"
    "}))\n"
)


def _import_lines(stderr: str) -> list[tuple[int, int, int, str]]:
    """-X importtime's lines as (self us, cumulative us, depth, module), in printed order:
    a module's imports come before it, one level deeper."""
    lines = []
    for line in stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        lines.append((int(parts[0]), int(parts[1]), depth, name.strip()))
    return lines


def _importer_of(lines: list[tuple[int, int, int, str]], package: str) -> tuple[float, str]:
    """How long `package` took to import and the first module outside it that imported it."""
    for index, (_, cumulative, depth, name) in enumerate(lines):
        if name == package:
            for _, _, parent_depth, parent in lines[index + 1 :]:
                if parent_depth >= depth:
                    continue
                if not parent.startswith(package):
                    return cumulative / 1000, parent
                depth = parent_depth  # a module of the package itself: climb on
            return cumulative / 1000, "?"
    return 0.0, ""


def cold_import(times: int) -> dict:
    """`python -X importtime -c "import app"` in fresh processes with the dev stage's env."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = {
        **os.environ,
        **config["environment_variables"],
        **config["stages"]["dev"]["environment_variables"],
        "AWS_DEFAULT_REGION": REGION,
    }
    runs = []
    for _ in range(times):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", _IMPORT_CHECK],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        lines = _import_lines(done.stderr)
        app_ms = next((cum / 1000 for _, cum, depth, name in lines if name == "app"), 0.0)
        boto3_ms, boto3_importer = _importer_of(lines, "boto3")
        runs.append(
            {
                **json.loads(done.stdout),
                "app_ms": app_ms,
                "total_ms": sum(own for own, _, _, _ in lines) / 1000,
                "boto3_ms": boto3_ms,
                "boto3_imported_by": boto3_importer,
            }
        )
    return {
        "app_ms": statistics.median(run["app_ms"] for run in runs),
        "total_ms": statistics.median(run["total_ms"] for run in runs),
        "pil_imported": any(run["pil_imported"] for run in runs),
        "clients_created": max(run["clients_created"] for run in runs),
        "boto3_imported": any(run["boto3_imported"] for run in runs),
        "boto3_ms": statistics.median(run["boto3_ms"] for run in runs),
        "boto3_imported_by": runs[0]["boto3_imported_by"],
        "runs": len(runs),
    }


# Ours crops cover variants around the focus it finds (issue 22); the others crop the centre.
FOCUS_CROPPING = ("ours", "ours-pillow")


def ours_focus(source: Path) -> tuple[float, float]:
    """The focus ours finds in `source` (outside the timed runs)."""
    from chalicelib import imaging

    data = source.read_bytes()
    formats = frozenset({"jpeg", "png", "gif", "webp", "tiff", "bmp"})
    probe = imaging.probe(data, allowed_formats=formats, max_pixels=50_000_000)
    return imaging.make_upload(data, probe, DEFAULT_VARIANTS).knowledge.focus


def _naive_cover_at(source: Path, spec: VariantSpec, focus: tuple[float, float]):
    """Naive's cover variant, cut around `focus` instead of the centre: the reference for an
    implementation that crops there, so the comparison judges resampling, not the framing."""
    from PIL import Image, ImageOps

    from chalicelib.imaging.geometry import cover_offset

    image = ImageOps.exif_transpose(Image.open(source)).convert("RGB")
    scaled, _ = covering(image.size, spec)
    left = cover_offset(scaled[0], spec.width, focus[0])
    top = cover_offset(scaled[1], spec.height, focus[1])
    variant = image.resize(scaled, Image.Resampling.LANCZOS)
    variant = variant.crop((left, top, left + spec.width, top + spec.height))
    return variant.rotate(-spec.rotate) if spec.rotate else variant


def difference_from_naive(
    outputs: Path,
    implementation: str,
    source: Path | None = None,
    focus: tuple[float, float] | None = None,
) -> float:
    """The largest, over the variants, mean absolute difference from naive's output (for
    cover variants cut around `focus`, naive's cut there too)."""
    from PIL import Image, ImageChops, ImageStat

    worst = 0.0
    for spec in DEFAULT_VARIANTS:
        if focus is not None and source is not None and spec.fit == Fit.COVER:
            reference = _naive_cover_at(source, spec, focus)
        else:
            reference = Image.open(outputs / f"naive-{spec.name}").convert("RGB")
        candidate = Image.open(outputs / f"{implementation}-{spec.name}").convert("RGB")
        if candidate.size != reference.size:  # a rounding apart: compare what is there
            candidate = candidate.resize(reference.size, Image.Resampling.LANCZOS)
        stat = ImageStat.Stat(ImageChops.difference(candidate, reference))
        worst = max(worst, sum(stat.mean) / len(stat.mean))
    return round(worst, 2)


# --- the run ------------------------------------------------------------------------------


class Worker:
    """One implementation on one image, in its own process."""

    def __init__(self, implementation: str, python: Path, image: Path, outputs: Path):
        outputs.mkdir(parents=True, exist_ok=True)
        self.log = outputs / f"{implementation}.log"
        with self.log.open("w") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [
                    str(python),
                    __file__,
                    "--worker",
                    implementation,
                    str(image),
                    "--outputs",
                    str(outputs),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                cwd=ROOT,
            )
        self.result: dict = self._read()
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def time_one_run(self) -> None:
        if "error" in self.result:
            return
        assert self.process.stdin is not None
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        answer = self._read()
        if "error" in answer:
            self.result = answer
            return
        self.wall.append(answer["ms"])
        self.cpu.append(answer["cpu_ms"])

    def finish(self) -> dict:
        self.process.communicate("exit\n")
        if "error" in self.result or not self.wall:
            return self.result
        return {
            **self.result,
            "ms": statistics.median(self.wall),
            "cpu_ms": statistics.median(self.cpu),
            "runs_ms": [round(value, 1) for value in self.wall],
        }

    def _read(self) -> dict:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line:
            return json.loads(line)
        self.process.wait()
        lines = self.log.read_text().strip().splitlines()
        return {"error": lines[-1] if lines else f"exit status {self.process.returncode}"}


def measure(pythons: dict[str, Path], image: Path, repeat: int, outputs: Path) -> dict[str, dict]:
    """Every implementation on one image: started one after another (each measures its peak
    RSS alone), then timed in interleaved rounds, a different one first in each round."""
    workers = {name: Worker(name, python, image, outputs) for name, python in pythons.items()}
    names = list(workers)
    for round_number in range(repeat):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            workers[name].time_one_run()
    return {name: worker.finish() for name, worker in workers.items()}


def run(out: Path, *, smoke: bool, repeat: int) -> dict:
    started = time.monotonic()
    if smoke:
        sources, implementations = [_smoke_image(out / "images")], ("naive", "ours", "floor")
    else:
        sources, implementations = images(BENCH / "images"), tuple(IMPLEMENTATIONS)
    pythons = {name: Path(sys.executable) for name in implementations}
    if not smoke:
        competitor = competitors_python()
        pythons.update(dict.fromkeys(COMPETITORS, competitor))
    rows = []
    for source in sources:
        outputs = out / "outputs" / source.stem
        print(f"  {source.name} ...", file=sys.stderr, flush=True)
        measured = measure(pythons, source, repeat, outputs)
        for name, result in measured.items():
            if "error" not in result and name not in ("naive", "floor"):
                focus = ours_focus(source) if name in FOCUS_CROPPING else None
                difference = difference_from_naive(outputs, name, source, focus)
                result["difference_from_naive"] = difference
        rows.append({"image": source.name, "implementations": measured})
    results = {
        "command": " ".join(["scripts/bench.py", *sys.argv[1:]]),
        "machine": _machine(),
        "repeat": repeat,
        "variants": [
            f"{s.name}: {s.fit} {s.width}x{s.height}" + (f" rotate {s.rotate}" if s.rotate else "")
            for s in DEFAULT_VARIANTS
        ],
        "images": rows,
    }
    if not smoke:
        results["aws_calls"] = _in_subprocess("--aws-calls", str(sources[0]))
        results["cold_import"] = cold_import(times=5)
    results["targets"] = targets(results)
    results["seconds"] = round(time.monotonic() - started, 1)
    return results


def _in_subprocess(*arguments: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, *arguments], capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _machine() -> dict:
    from PIL import __version__ as pillow

    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "pillow": pillow,
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


# --- the verdict and the table ------------------------------------------------------------

# The targets are set on 20-24 MP baseline JPEGs.
TARGET_IMAGES = ("photo-20mp-kleiber.jpg", "art-24mp-painting.jpg", BASELINE)
RSS_IMAGES = ("art-24mp-painting.jpg", BASELINE)  # the 24 MP ones


def _ms(row: dict, name: str) -> float | None:
    result = row["implementations"].get(name)
    return result["ms"] if result and "ms" in result else None


def targets(results: dict) -> list[dict]:
    checks = []

    def check(what: str, image: str, value: float | None, limit: float, at_least: bool) -> None:
        if value is None:
            return
        met = value >= limit if at_least else value <= limit
        sign = ">=" if at_least else "<="
        checks.append(
            {
                "target": f"{what} {sign} {limit}",
                "image": image,
                "value": round(value, 2),
                "met": met,
            }
        )

    for row in results["images"]:
        image, ours = row["image"], _ms(row, "ours")
        if ours is None:
            continue
        naive, floor = _ms(row, "naive"), _ms(row, "floor")
        if row["image"] in TARGET_IMAGES or len(results["images"]) == 1:
            check("naive/ours", image, naive and naive / ours, 4.0, at_least=True)
            check("ours/floor", image, floor and ours / floor, 1.3, at_least=False)
            for competitor in COMPETITORS:
                other = _ms(row, competitor)
                check(f"{competitor}/ours", image, other and other / ours, 1.2, at_least=True)
        if row["image"] in RSS_IMAGES:
            rss = row["implementations"]["ours"]["rss_mb"]
            check("peak RSS increase MB", image, rss, 60, at_least=False)
        if row["image"] == PROGRESSIVE:
            rss = row["implementations"]["ours"]["rss_mb"]
            naive_rss = row["implementations"].get("naive", {}).get("rss_mb")
            if naive_rss is not None:
                check("peak RSS increase MB (naive's)", image, rss, naive_rss, at_least=False)
    calls = results.get("aws_calls", {})
    if "total" in calls:
        # 8 for the upload itself, and the duplicate lookup's (issue 22): one Query a
        # fingerprint band and one BatchWriteItem of the bands (no collection here).
        from chalicelib.imaging import fingerprint

        lookup = fingerprint.BANDS + 1
        check("AWS calls per upload", calls["image"], calls["total"], 8 + lookup, at_least=False)
    imports = results.get("cold_import")
    if imports:
        for fact in ("pil_imported", "clients_created"):
            checks.append(
                {
                    "target": f"API cold import: {fact} is none",
                    "image": "app",
                    "value": imports[fact],
                    "met": not imports[fact],
                }
            )
    return checks


def _cell(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(results: dict) -> str:
    header = (
        "| image | naive ms | ours ms | × | floor ms | ours/floor | thumbor ms | pyvips ms "
        "| peak RSS Δ MB |"
    )
    lines = [header, "|" + "---|" * 9]
    for row in results["images"]:
        naive, ours, floor = _ms(row, "naive"), _ms(row, "ours"), _ms(row, "floor")
        rss = row["implementations"].get("ours", {}).get("rss_mb")
        lines.append(
            f"| {row['image']} | {_cell(naive)} | {_cell(ours)} "
            f"| {_cell(naive and ours and naive / ours, 1)} | {_cell(floor)} "
            f"| {_cell(ours and floor and ours / floor, 2)} | {_cell(_ms(row, 'thumbor'))} "
            f"| {_cell(_ms(row, 'pyvips'))} | {_cell(rss)} |"
        )
    return "\n".join(lines)


def details(results: dict) -> str:
    lines = [
        "| image | implementation | wall ms | CPU ms | peak RSS Δ MB | Δ from naive |",
        "|" + "---|" * 6,
    ]
    for row in results["images"]:
        for name, result in row["implementations"].items():
            if "error" in result:
                lines.append(f"| {row['image']} | {name} | error: {result['error']} | | | |")
                continue
            lines.append(
                f"| {row['image']} | {name} | {result['ms']:.0f} | {result['cpu_ms']:.0f} "
                f"| {result['rss_mb']:.0f} | {_cell(result.get('difference_from_naive'), 2)} |"
            )
    return "\n".join(lines)


def report(results: dict) -> str:
    parts = [table(results), "", details(results), ""]
    calls = results.get("aws_calls")
    if calls:
        parts.append(f"AWS calls per processed upload: {json.dumps(calls)}")
    imports = results.get("cold_import")
    if imports:
        parts.append(
            f"API cold import (median of {imports['runs']}): import app {imports['app_ms']:.0f} ms,"
            f" all imports {imports['total_ms']:.0f} ms; PIL imported: {imports['pil_imported']};"
            f" clients created: {imports['clients_created']};"
            f" boto3 imported: {imports['boto3_imported']}"
            f" ({imports['boto3_ms']:.0f} ms, by {imports['boto3_imported_by'] or '-'})"
        )
    parts.append("")
    for target in results["targets"]:
        mark = "met " if target["met"] else "MISS"
        parts.append(f"{mark} {target['target']:<36} {target['image']:<32} {target['value']}")
    parts.append(f"\n{results['seconds']} s; machine: {json.dumps(results['machine'])}")
    return "\n".join(parts)


# --- knowledge at upload (issue 22) -------------------------------------------------------


def knowledge_report(repeat: int) -> str:
    """The cost of each step that learns about an upload (scripts/bench_knowledge.py); the
    `ours` column above already includes them."""
    import bench_knowledge

    from tests.support.corpus import photos

    rows = bench_knowledge.measure(photos(), repeat)
    return "\nWhat each upload learns, per step:\n" + bench_knowledge.table(rows)


# --- the command --------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="one small image, no competitors")
    parser.add_argument("--repeat", type=int, help=f"timed runs per image (default {REPEAT})")
    parser.add_argument("--out", type=Path, default=BENCH, help="where results.json goes")
    parser.add_argument("--worker", nargs=2, metavar=("IMPLEMENTATION", "IMAGE"))
    parser.add_argument("--outputs", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--aws-calls", type=Path, metavar="IMAGE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        name, image = args.worker
        worker(name, Path(image), args.outputs)
        return 0
    if args.aws_calls:
        print(json.dumps(aws_calls(args.aws_calls)))
        return 0
    repeat = args.repeat or (1 if args.smoke else REPEAT)
    results = run(args.out, smoke=args.smoke, repeat=repeat)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    if not args.smoke:
        print(knowledge_report(args.repeat or REPEAT))
    print(f"results: {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
