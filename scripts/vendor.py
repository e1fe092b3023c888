"""Fills vendor/ with the Lambda runtime's Pillow, pillow-heif, simplejpeg and pyspng with
NumPy and, on x86_64, the vectorised resampler cykooz.resizer (`make vendor`).

The wheels are pinned by file name and sha256 in scripts/vendor-lock.json, one set per
architecture. They are downloaded for CPython 3.12 on manylinux whatever machine runs this,
checked, unpacked, and stripped of what Lambda never loads. vendor/.vendor.json records what
was unpacked (file names, tags, hashes); the guard reads it, and a second run with the same
lock and architecture does nothing.

    python scripts/vendor.py [--arch x86_64|arm64] [--vendor-dir DIR]
"""

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCK = Path(__file__).resolve().parent / "vendor-lock.json"
VENDOR = ROOT / "vendor"
MARKER = ".vendor.json"
KEEP = {"README.md"}  # vendor/ files that are not build output

# Lambda architecture name -> the machine name in wheel tags and extension suffixes.
MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}

# Never loaded on Lambda: type stubs, caches, the Tk binding (no display), wheel metadata.
DROPPED_SUFFIXES = (".pyi", ".pyc")
DROPPED_NAMES = {"py.typed", "__pycache__", "tests"}
DROPPED_PREFIXES = ("PIL/_imagingtk.",)


class VendorError(Exception):
    pass


def wheel_tags(filename: str) -> list[str]:
    """Every python-abi-platform tag a wheel file name declares (compressed sets expanded)."""
    stem = filename.removesuffix(".whl")
    parts = stem.split("-")
    if len(parts) not in (5, 6) or not filename.endswith(".whl"):
        raise VendorError(f"{filename} is not a wheel file name")
    pythons, abis, platforms = parts[-3:]
    return [
        f"{python}-{abi}-{platform}"
        for python in pythons.split(".")
        for abi in abis.split(".")
        for platform in platforms.split(".")
    ]


def load_lock(path: Path = LOCK) -> dict[str, Any]:
    return json.loads(path.read_text())


def expected_marker(lock: dict[str, Any], arch: str) -> dict[str, Any]:
    """What vendor/.vendor.json says once this architecture's locked wheels are unpacked."""
    if arch not in lock["arches"]:
        raise VendorError(f"no wheels locked for {arch}; choose one of {sorted(lock['arches'])}")
    return {
        "arch": arch,
        "python": lock["python"],
        "wheels": [
            {
                "requirement": wheel["requirement"],
                "filename": wheel["filename"],
                "sha256": wheel["sha256"],
                "tags": wheel_tags(wheel["filename"]),
            }
            for wheel in lock["arches"][arch]["wheels"]
        ],
    }


def read_marker(vendor_dir: Path) -> dict[str, Any] | None:
    path = vendor_dir / MARKER
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(lock: dict[str, Any], arch: str, into: Path) -> list[Path]:
    """pip download of the locked wheels for the target runtime, never an sdist."""
    spec = lock["arches"][arch]
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--no-deps",
        # pip takes a platform tag literally: a wheel built for an older glibc
        # (manylinux2014) is only considered when its tag is listed too.
        *(option for platform in spec["platforms"] for option in ("--platform", platform)),
        "--python-version",
        lock["python"],
        "--implementation",
        lock["implementation"],
        "--abi",
        lock["abi"],
        "--dest",
        str(into),
        *(wheel["requirement"] for wheel in spec["wheels"]),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise VendorError(f"pip download failed:\n{result.stdout}{result.stderr}")
    return [into / wheel["filename"] for wheel in spec["wheels"]]


def verify(lock: dict[str, Any], arch: str, wheels: list[Path]) -> None:
    """Each downloaded wheel is the locked file, byte for byte."""
    for wheel, locked in zip(wheels, lock["arches"][arch]["wheels"], strict=True):
        if not wheel.is_file():
            found = sorted(p.name for p in wheel.parent.glob("*.whl"))
            raise VendorError(
                f"pip did not fetch {locked['filename']} (got {found}); "
                "update scripts/vendor-lock.json if the pin changed"
            )
        actual = sha256(wheel)
        if actual != locked["sha256"]:
            raise VendorError(
                f"{wheel.name}: sha256 {actual} does not match the lock ({locked['sha256']}); "
                "refusing to vendor a file that is not the one that was reviewed"
            )


def clear(vendor_dir: Path) -> None:
    vendor_dir.mkdir(parents=True, exist_ok=True)
    for entry in vendor_dir.iterdir():
        if entry.name in KEEP:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _dropped(name: str) -> bool:
    parts = name.split("/")
    return (
        ".dist-info" in parts[0]
        or any(part in DROPPED_NAMES for part in parts)
        or name.endswith(DROPPED_SUFFIXES)
        or name.startswith(DROPPED_PREFIXES)
    )


def _license(name: str) -> bool:
    parts = name.split("/")
    return parts[0].endswith(".dist-info") and "licenses" in parts and not name.endswith("/")


def unpack(wheel: Path, vendor_dir: Path) -> None:
    """Extract what Lambda imports; keep the licenses (the binaries bundle other libraries)."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            name = info.filename
            if info.is_dir() or ".." in name.split("/") or name.startswith("/"):
                continue
            if _license(name):
                distribution = name.split("/")[0].removesuffix(".dist-info")
                target = vendor_dir / "licenses" / distribution / Path(name).name
            elif _dropped(name):
                continue
            else:
                target = vendor_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                target.chmod(mode)


def vendor(arch: str, vendor_dir: Path = VENDOR, lock_path: Path = LOCK) -> bool:
    """Make vendor_dir hold the locked wheels for arch. Returns False if it already did."""
    lock = load_lock(lock_path)
    wanted = expected_marker(lock, arch)
    if read_marker(vendor_dir) == wanted:
        return False
    with tempfile.TemporaryDirectory(prefix="vendor-wheels-") as scratch:
        wheels = download(lock, arch, Path(scratch))
        verify(lock, arch, wheels)
        clear(vendor_dir)
        for wheel in wheels:
            unpack(wheel, vendor_dir)
    (vendor_dir / MARKER).write_text(json.dumps(wanted, indent=2) + "\n")
    return True


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(MACHINES), default="x86_64")
    parser.add_argument("--vendor-dir", type=Path, default=VENDOR)
    args = parser.parse_args(argv)
    try:
        changed = vendor(args.arch, args.vendor_dir)
    except VendorError as error:
        print(f"vendor: {error}", file=sys.stderr)
        return 1
    marker = read_marker(args.vendor_dir) or {}
    state = "unpacked" if changed else "up to date"
    size = tree_size(args.vendor_dir) / 1e6
    print(f"vendor: {state} for {args.arch} in {args.vendor_dir} ({size:.1f} MB)")
    for wheel in marker.get("wheels", []):
        print(f"  {wheel['filename']}  sha256:{wheel['sha256'][:16]}…")
    return 0


if __name__ == "__main__":
    sys.exit(main())
