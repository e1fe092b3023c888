"""Refuses to package or deploy what would not run on Lambda (`make guard`).

Three ways to ship a broken function, each checked here and refused with what to do:
- packaging with a Python other than the runtime's (Chalice picks the runtime from it and
  accepts only wheels for that runtime);
- a vendor/ that is missing, or holds wheels or compiled modules for another Python or
  another architecture;
- a requirements.txt that would make Chalice build an image library (or anything without a
  manylinux wheel) from source against this machine's libraries.

    python scripts/guard.py [--arch x86_64|arm64] [--stage STAGE] [--vendor-dir DIR]
                            [--requirements FILE]
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from vendor import MACHINES, VENDOR, expected_marker, load_lock, read_marker, wheel_tags

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements.txt"
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"
RUNTIME = (3, 12)
RUNTIME_GLIBC = (2, 34)  # Lambda python3.12 runs on Amazon Linux 2023
ELF_MACHINES = {"x86_64": 0x3E, "arm64": 0xB7}

# Image libraries that must come from vendor/, never through Chalice's pip (normalised names).
IMAGE_LIBRARIES = {
    "pillow",
    "pillow-heif",
    "pillow-avif-plugin",
    "cykooz-resizer",
    "pil",
    "pyvips",
    "wand",
    "opencv-python",
    "opencv-python-headless",
    "opencv-contrib-python",
    "scikit-image",
    "imageio",
}

_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_(\w+)$")
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def check_python(version: tuple[int, ...] = tuple(sys.version_info[:2])) -> list[str]:
    if tuple(version[:2]) == RUNTIME:
        return []
    have = ".".join(map(str, version[:2]))
    want = ".".join(map(str, RUNTIME))
    return [
        f"packaging Python is {have}, the Lambda runtime is python{want}: Chalice would "
        f"pick python{have} and its wheels. Install {want} (pyenv install {want}), then "
        "`make clean venv` so .venv is rebuilt with it."
    ]


def _platform_fits(platform: str, arch: str) -> bool:
    machine = MACHINES[arch]
    found = _MANYLINUX.match(platform)
    if found:
        glibc = (int(found.group(1)), int(found.group(2)))
        return found.group(3) == machine and glibc <= RUNTIME_GLIBC
    legacy, _, tail = platform.partition("_")
    return legacy in _LEGACY_MANYLINUX and tail == machine


def tag_fits(tag: str, arch: str) -> bool:
    """A wheel tag Lambda's python3.12 on this architecture can load."""
    python, abi, platform = tag.split("-", 2)
    cp = f"cp{RUNTIME[0]}{RUNTIME[1]}"
    return python == cp and abi in (cp, "abi3") and _platform_fits(platform, arch)


def _elf_machine(path: Path) -> int | None:
    header = path.read_bytes()[:20]
    if header[:4] != b"\x7fELF" or len(header) < 20:
        return None
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


def check_vendor(vendor_dir: Path, arch: str) -> list[str]:
    redo = f"Run `make vendor ARCH={arch}` (or delete {vendor_dir} and run it)."
    marker = read_marker(vendor_dir)
    if marker is None:
        return [f"{vendor_dir} holds no vendored wheels (no .vendor.json). {redo}"]
    problems = []
    if marker.get("arch") != arch:
        problems.append(f"vendor/ was made for {marker.get('arch')}, not {arch}. {redo}")
    for wheel in marker.get("wheels", []):
        tags = wheel_tags(wheel["filename"])
        if not any(tag_fits(tag, arch) for tag in tags):
            problems.append(
                f"vendored wheel {wheel['filename']} (tags {', '.join(tags)}) is not for "
                f"CPython {'.'.join(map(str, RUNTIME))} on manylinux {arch}. {redo}"
            )
    if marker != expected_marker(load_lock(), arch):
        problems.append(f"vendor/ does not match scripts/vendor-lock.json. {redo}")
    problems.extend(_check_extensions(vendor_dir, arch, redo))
    return problems


def _check_extensions(vendor_dir: Path, arch: str, redo: str) -> list[str]:
    """The compiled modules themselves: named for cp312 on arch, and built for arch."""
    suffix = f".cpython-{RUNTIME[0]}{RUNTIME[1]}-{MACHINES[arch]}-linux-gnu.so"
    imaging = vendor_dir / "PIL" / f"_imaging{suffix}"
    problems = []
    if not imaging.is_file():
        problems.append(
            f"vendor/ has no PIL/{imaging.name} (Pillow's core for the runtime). {redo}"
        )
    for module in sorted(vendor_dir.rglob("*.so")):
        relative = module.relative_to(vendor_dir)
        if relative.parts[0].endswith(".libs"):
            continue  # bundled shared libraries carry no Python tag
        if not module.name.endswith(suffix):
            problems.append(f"vendor/{relative} is not a {suffix} module. {redo}")
        elif _elf_machine(module) != ELF_MACHINES[arch]:
            problems.append(f"vendor/{relative} is not an {arch} ELF binary. {redo}")
    return problems


def check_stage(config_path: Path, stage: str, arch: str) -> list[str]:
    """The stage's functions run on the architecture vendor/ was made for."""
    config = json.loads(config_path.read_text())
    if stage not in config.get("stages", {}):
        return [f"stage {stage!r} is not in {config_path}"]
    chosen = config["stages"][stage].get(
        "lambda_architecture", config.get("lambda_architecture", "x86_64")
    )
    if chosen == arch:
        return []
    return [
        f"stage {stage} runs its functions on {chosen} but vendor/ is for {arch}: run "
        f'`make vendor ARCH={chosen}`, or set "lambda_architecture": "{arch}" in the stage.'
    ]


def requirement_names(requirements: Path) -> list[str]:
    names = []
    for line in requirements.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text or text.startswith("-"):
            continue
        name = re.split(r"[\s\[<>=!~;@]", text, maxsplit=1)[0]
        names.append(re.sub(r"[-_.]+", "-", name).lower())
    return names


def check_requirements(requirements: Path, arch: str, *, ask_pip: bool = True) -> list[str]:
    if not requirements.is_file():
        return []
    names = requirement_names(requirements)
    problems = [
        f"requirements.txt lists {name}: Chalice would build it from source for this "
        "machine, and it would fail on Lambda. Remove it; image libraries come from vendor/ "
        "(scripts/vendor-lock.json)."
        for name in names
        if name in IMAGE_LIBRARIES
    ]
    if ask_pip and names and not problems:
        problems.extend(_check_wheels_exist(requirements, arch))
    return problems


def _check_wheels_exist(requirements: Path, arch: str) -> list[str]:
    """Ask pip for binary wheels only, for the runtime: anything sdist-only fails here."""
    machine = MACHINES[arch]
    platforms = [f"manylinux_2_{minor}_{machine}" for minor in range(RUNTIME_GLIBC[1], 16, -1)]
    platforms.append(f"manylinux2014_{machine}")
    with tempfile.TemporaryDirectory(prefix="guard-wheels-") as scratch:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            *(part for platform in platforms for part in ("--platform", platform)),
            "--python-version",
            ".".join(map(str, RUNTIME)),
            "--implementation",
            "cp",
            "--dest",
            scratch,
            "-r",
            str(requirements),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return []
    return [
        "some requirement in requirements.txt has no manylinux wheel for python3.12 "
        f"{arch}, so Chalice would build it from source:\n{result.stderr.strip()}\n"
        "Pin a version that ships such a wheel, or vendor it like Pillow."
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(MACHINES), default="x86_64")
    parser.add_argument("--stage", help="also check the stage's lambda_architecture")
    parser.add_argument("--vendor-dir", type=Path, default=VENDOR)
    parser.add_argument("--requirements", type=Path, default=REQUIREMENTS)
    args = parser.parse_args(argv)
    problems = [
        *check_python(),
        *(check_stage(CHALICE_CONFIG, args.stage, args.arch) if args.stage else []),
        *check_vendor(args.vendor_dir, args.arch),
        *check_requirements(args.requirements, args.arch),
    ]
    if problems:
        print("guard: refusing to package for Lambda:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"guard: ok (python{'.'.join(map(str, RUNTIME))}, vendor/ for {args.arch}, requirements)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
