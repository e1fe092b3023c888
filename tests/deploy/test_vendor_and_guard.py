"""make vendor fetches exactly the locked Lambda wheels; the guard refuses anything that
would not run on Lambda; make package produces a deployment that passes its inspection."""

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import guard
import package
import pytest

import vendor
from tests.deploy import ROOT, SCRIPTS

X86_CORE = "PIL/_imaging.cpython-312-x86_64-linux-gnu.so"
ELF_X86_64 = b"\x7fELF\x02\x01\x01" + bytes(11) + (0x3E).to_bytes(2, "little") + bytes(8)
ELF_AARCH64 = b"\x7fELF\x02\x01\x01" + bytes(11) + (0xB7).to_bytes(2, "little") + bytes(8)


def fake_vendor(directory: Path, marker: dict, modules: dict[str, bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / ".vendor.json").write_text(json.dumps(marker))
    for name, content in modules.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(content)
    return directory


def locked_marker(arch: str = "x86_64") -> dict:
    return vendor.expected_marker(vendor.load_lock(), arch)


def run_guard(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "guard.py"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


# --- the lock and the vendoring ---


def test_the_lock_pins_cp312_manylinux_wheels_for_both_architectures():
    lock = vendor.load_lock()
    # cykooz.resizer publishes no Linux arm64 wheel; imaging falls back to Pillow there.
    decoders = ["numpy==2.5.5", "simplejpeg==1.9.0", "pyspng==0.1.4"]
    expected = {
        "x86_64": ["pillow==13.0.0", "pillow-heif==1.8.1", "cykooz.resizer==4.0.1", *decoders],
        "arm64": ["pillow==13.0.0", "pillow-heif==1.8.1", *decoders],
    }
    for arch in ("x86_64", "arm64"):
        wheels = lock["arches"][arch]["wheels"]
        assert [w["requirement"] for w in wheels] == expected[arch]
        for wheel in wheels:
            assert len(wheel["sha256"]) == 64
            assert any(guard.tag_fits(tag, arch) for tag in vendor.wheel_tags(wheel["filename"]))


def test_wheel_tags_expand_compressed_tag_sets():
    assert vendor.wheel_tags(
        "pillow-13.0.0-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
    ) == [
        "cp312-cp312-manylinux_2_27_x86_64",
        "cp312-cp312-manylinux_2_28_x86_64",
    ]


@pytest.mark.parametrize(
    ("tag", "arch", "fits"),
    [
        ("cp312-cp312-manylinux_2_28_x86_64", "x86_64", True),
        ("cp312-abi3-manylinux2014_x86_64", "x86_64", True),
        ("cp311-cp311-manylinux_2_28_x86_64", "x86_64", False),
        ("cp312-cp312-manylinux_2_28_aarch64", "x86_64", False),
        ("cp312-cp312-manylinux_2_39_x86_64", "x86_64", False),  # newer glibc than Lambda's
        ("cp312-cp312-macosx_11_0_arm64", "arm64", False),
        ("cp312-cp312-manylinux_2_28_aarch64", "arm64", True),
    ],
)
def test_a_wheel_tag_fits_the_runtime_only_for_cp312_on_its_manylinux(tag, arch, fits):
    assert guard.tag_fits(tag, arch) is fits


def _wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return path


def test_unpacking_keeps_what_lambda_imports_and_the_licenses_only(tmp_path):
    wheel = _wheel(
        tmp_path / "pillow-13.0.0-cp312-cp312-manylinux_2_28_x86_64.whl",
        {
            "PIL/__init__.py": b"",
            "PIL/Image.pyi": b"",
            "PIL/__pycache__/Image.cpython-312.pyc": b"",
            X86_CORE: ELF_X86_64,
            "PIL/_imagingtk.cpython-312-x86_64-linux-gnu.so": ELF_X86_64,
            "pillow.libs/libjpeg.so.62": b"lib",
            "pillow-13.0.0.dist-info/METADATA": b"",
            "pillow-13.0.0.dist-info/licenses/LICENSE": b"license",
        },
    )
    out = tmp_path / "vendor"

    vendor.unpack(wheel, out)

    kept = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert kept == [
        "PIL/__init__.py",
        X86_CORE,
        "licenses/pillow-13.0.0/LICENSE",
        "pillow.libs/libjpeg.so.62",
    ]


def test_a_wheel_whose_hash_differs_from_the_lock_is_refused(tmp_path):
    lock = vendor.load_lock()
    wheels = [tmp_path / w["filename"] for w in lock["arches"]["x86_64"]["wheels"]]
    for wheel in wheels:
        wheel.write_bytes(b"not the reviewed wheel")

    with pytest.raises(vendor.VendorError, match="does not match the lock"):
        vendor.verify(lock, "x86_64", wheels)


def test_vendoring_again_with_the_same_lock_and_arch_does_nothing(tmp_path, monkeypatch):
    fake_vendor(tmp_path, locked_marker(), {X86_CORE: ELF_X86_64})

    def no_download(*_):
        raise AssertionError("downloaded although vendor/ was up to date")

    monkeypatch.setattr(vendor, "download", no_download)
    assert vendor.vendor("x86_64", tmp_path) is False


# --- the guard ---


def test_the_guard_accepts_a_vendor_dir_made_from_the_lock(tmp_path):
    fake_vendor(tmp_path, locked_marker(), {X86_CORE: ELF_X86_64})
    assert guard.check_vendor(tmp_path, "x86_64") == []


def test_the_guard_refuses_a_cp311_vendor_with_what_to_do(tmp_path):
    marker = locked_marker()
    marker["wheels"][0]["filename"] = "pillow-13.0.0-cp311-cp311-manylinux_2_28_x86_64.whl"
    fake_vendor(tmp_path, marker, {"PIL/_imaging.cpython-311-x86_64-linux-gnu.so": ELF_X86_64})

    result = run_guard("--arch", "x86_64", "--vendor-dir", str(tmp_path))

    assert result.returncode == 1
    assert "cp311" in result.stderr
    assert "make vendor ARCH=x86_64" in result.stderr


def test_the_guard_refuses_a_missing_vendor_dir(tmp_path):
    result = run_guard("--vendor-dir", str(tmp_path / "nothing"))

    assert result.returncode == 1
    assert "no vendored wheels" in result.stderr


def test_the_guard_refuses_a_module_built_for_another_machine(tmp_path):
    fake_vendor(tmp_path, locked_marker(), {X86_CORE: ELF_AARCH64})

    problems = guard.check_vendor(tmp_path, "x86_64")

    assert any("not an x86_64 ELF binary" in p for p in problems)


def test_the_guard_refuses_an_arm64_vendor_for_an_x86_64_package(tmp_path):
    core = "PIL/_imaging.cpython-312-aarch64-linux-gnu.so"
    fake_vendor(tmp_path, locked_marker("arm64"), {core: ELF_AARCH64})

    problems = guard.check_vendor(tmp_path, "x86_64")

    assert any("made for arm64, not x86_64" in p for p in problems)


@pytest.mark.parametrize("version", [(3, 11), (3, 13)])
def test_the_guard_refuses_a_packaging_python_other_than_the_runtime(version):
    problems = guard.check_python(version)
    assert problems and "python3.12" in problems[0]


def test_the_guard_accepts_python_3_12():
    assert guard.check_python((3, 12)) == []


@pytest.mark.parametrize(
    "line", ["Pillow==13.0.0", "pillow_heif>=1", "PyVips ; python_version>'3'"]
)
def test_the_guard_refuses_image_libraries_in_requirements(tmp_path, line):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"# what Lambda needs\n{line}\n")

    problems = guard.check_requirements(requirements, "x86_64", ask_pip=False)

    assert len(problems) == 1 and "from source" in problems[0]


def test_the_projects_requirements_pass_the_guard():
    assert guard.check_requirements(ROOT / "requirements.txt", "x86_64") == []


# --- the package ---


def test_the_inspection_catches_the_api_key_authorizer_name_chalice_reserves():
    swagger = {
        "securityDefinitions": {
            "users": {
                "x-amazon-apigateway-authtype": "cognito_user_pools",
                "x-amazon-apigateway-authorizer": {"providerARNs": ["arn:pool"]},
            },
            "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"},
        },
        "paths": {
            "/me": {"get": {"security": [{"users": []}]}},
            "/external": {"get": {"security": [{"api_key": []}]}},
        },
    }
    report = package.Inspection()

    package.inspect_api(
        {"locals": {"chalice_api_swagger": json.dumps(swagger)}},
        {"environment": {"USER_POOL_ARN": "arn:pool"}},
        report,
    )

    assert len(report.problems) == 1 and "api_key" in report.problems[0]


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    """The real `make package` steps, for stage dev: vendor (a no-op when up to date; a
    13 MB download otherwise), guard, chalice package, the
    Terraform rewrite. About 6 s once vendored."""
    vendor.vendor("x86_64")
    assert guard.check_vendor(vendor.VENDOR, "x86_64") == []
    out = tmp_path_factory.mktemp("package") / "out"
    package.run_chalice(ROOT, "dev", out)
    package.write_terraform(out, "dev")
    return out


def test_the_package_passes_its_inspection(packaged):
    report = package.inspect(packaged, ROOT, "dev", "x86_64")
    assert report.problems == []


def test_the_package_carries_the_vendored_pillow_and_the_sized_functions(packaged):
    with zipfile.ZipFile(packaged / "deployment.zip") as archive:
        assert archive.read(X86_CORE) == (vendor.VENDOR / X86_CORE).read_bytes()
        names = archive.namelist()
    assert "app.py" in names and "chalicelib/processing.py" in names
    functions = json.loads((packaged / "chalice.tf.json").read_text())["resource"][
        "aws_lambda_function"
    ]
    sizing = {name: (f["memory_size"], f["timeout"]) for name, f in functions.items()}
    assert sizing["handle_upload"] == (2048, 120)
    assert sizing["cleanup"] == (2048, 300)  # its re-drives run the upload pipeline
    assert sizing["api_handler"] == (1536, 30)  # renders: see test_render_memory.py
    assert sizing["external_key"] == (256, 30)
    assert sizing["deliver_events"] == (256, 60)


def test_the_guard_refuses_a_stage_whose_functions_run_on_another_architecture(tmp_path):
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    config["stages"]["prod"]["lambda_architecture"] = "arm64"
    (tmp_path / "config.json").write_text(json.dumps(config))

    assert guard.check_stage(tmp_path / "config.json", "dev", "x86_64") == []
    problems = guard.check_stage(tmp_path / "config.json", "prod", "x86_64")
    assert len(problems) == 1 and "make vendor ARCH=arm64" in problems[0]


def test_make_package_stops_at_the_guard_when_vendor_holds_a_cp311_build(tmp_path):
    """The whole `make package` on a copy of the project whose vendor/ was tampered with
    after `make vendor` (its marker still says all is well): the guard stops it."""
    vendor.vendor("x86_64")
    project = tmp_path / "project"
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, project / name)
    shutil.copytree(vendor.VENDOR, project / "vendor", dirs_exist_ok=True)
    core = project / "vendor" / X86_CORE
    core.rename(core.with_name("_imaging.cpython-311-x86_64-linux-gnu.so"))

    result = subprocess.run(
        ["make", "package", f"VENV={ROOT / '.venv'}"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )

    assert result.returncode != 0
    assert "_imaging.cpython-311-x86_64-linux-gnu.so is not a" in result.stderr
    assert "make vendor" in result.stderr
    assert not (project / "out" / "deployment.zip").exists()
