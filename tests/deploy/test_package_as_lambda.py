"""The deployment package runs as Lambda runs it (scripts/lambda_run.py): make package's
zip, unzipped alone, in `python3.12 -I -S` with only boto3 beside it, answers each
trigger's event as the checkout's code does under make run, within its memory setting."""

import json
import subprocess
import sys
import zipfile

import package
import pytest

import vendor
from tests.deploy import ROOT, SCRIPTS
from tests.support import corpus


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    vendor.vendor("x86_64")
    out = tmp_path_factory.mktemp("package") / "out"
    package.run_chalice(ROOT, "dev", out)
    package.write_terraform(out, "dev")
    photo = corpus.photos() / "photo-20mp-kleiber.jpg"
    report_path = out.parent / "lambda-run.json"
    command = [sys.executable, str(SCRIPTS / "lambda_run.py"), "--zip", str(out / "deployment.zip")]
    command += ["--tf", str(out / "chalice.tf.json"), "--photo", str(photo)]
    result = subprocess.run(
        [*command, "--report", str(report_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert report_path.exists(), result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    report["returncode"], report["printed"] = result.returncode, result.stdout + result.stderr
    report["zip"] = str(out / "deployment.zip")
    return report


def answers(report, runtime="package"):
    return {a["event"]: a["answer"] for a in report[runtime]["answers"]}


def test_every_handler_answers_as_the_same_code_does_under_make_run(run):
    assert run["differences"] == []
    assert run["returncode"] == 0, run["printed"][-3000:]
    assert [a["event"] for a in run["package"]["answers"]] == [
        a["event"] for a in run["make run"]["answers"]
    ]


def test_the_api_answers_with_claims_and_refuses_without(run):
    got = answers(run)

    assert got["GET /health, no claims"]["statusCode"] == 200
    assert json.loads(got["GET /me, demo's claims"]["body"])["username"] == "demo"
    assert got["GET /me, no claims"]["statusCode"] == 401
    assert got["POST /images, demo's claims"]["statusCode"] == 201
    assert got["POST /admin/api-keys, admin's claims"]["statusCode"] == 201


def test_the_s3_event_for_a_real_photo_makes_it_ready_with_its_variants(run):
    got = answers(run)
    image = json.loads(got["GET /images/{id}, demo's claims"]["body"])

    assert got["S3 ObjectCreated (a real photo)"] is None
    assert image["status"] == "ready"
    assert set(image["links"]) == {"original", "thumbnail", "preview", "hd-rotated"}


def test_the_token_authorizer_allows_a_real_key_and_no_route_for_a_wrong_one(run):
    got = answers(run)
    valid = got["TOKEN, a valid key"]["policyDocument"]["Statement"][0]
    unknown = got["TOKEN, an unknown key"]["policyDocument"]["Statement"][0]

    assert got["TOKEN, a valid key"]["principalId"].startswith("apikey:")
    assert valid["Effect"] == "Allow" and valid["Resource"]
    assert got["TOKEN, an unknown key"]["principalId"] == "anonymous"
    assert not unknown.get("Resource")


def test_the_scheduled_cleanup_runs(run):
    assert answers(run)["scheduled event"] is None


def test_only_the_package_boto3_and_the_standard_library_are_on_the_path(run):
    for name, facts in run["package"]["functions"].items():
        task_root, libraries, *stdlib = facts["sys_path"]
        assert task_root == run["task_root"], name
        assert libraries == run["runtime_libraries"], name
        assert all(
            path.startswith(facts["origins"]["stdlib"].rsplit("/", 1)[0]) for path in stdlib
        ), stdlib
        loaded_from = set(facts["origins"]["origins"])
        allowed = {
            task_root,
            libraries,
            facts["origins"]["stdlib"],
            str(SCRIPTS / "lambda_bootstrap.py"),
        }
        assert loaded_from <= allowed, (name, loaded_from - allowed)
        assert facts["origins"]["origins"][task_root] > 0  # app.py and chalicelib from the zip


def test_each_function_peaks_below_its_memory_setting(run):
    functions = run["package"]["functions"]

    assert set(functions) == {
        "api_handler",
        "handle_upload",
        "cleanup",
        "external_key",
        "deliver_events",
    }
    for name, facts in functions.items():
        assert 0 < facts["peak_rss_mb"] < facts["memory_mb"], (name, facts)


# Made in the unzipped package alone: a 2560 x 1600 JPEG (which TurboJPEG decodes at 5/8 for
# the 1600 px preview), a 4000 x 3000 WebP (which libwebp decodes scaled) and a 2000 x 1500
# RGBA PNG (which libspng decodes).
_FASTER_DECODERS = """
import io, json, sys
sys.path.insert(0, sys.argv[1])
from PIL import Image
from chalicelib import imaging, settings
from chalicelib.imaging import jpeg_decoder, png_decoder, webp_decoder
from chalicelib.specs import DEFAULT_VARIANTS
made = {}
for size, fmt, mode in (
    ((2560, 1600), "JPEG", "RGB"), ((4000, 3000), "WEBP", "RGB"), ((2000, 1500), "PNG", "RGBA")
):
    buffer = io.BytesIO()
    Image.radial_gradient("L").resize(size).convert(mode).save(buffer, fmt)
    data = buffer.getvalue()
    probe = imaging.probe(data, allowed_formats=settings.ALL_INPUT_FORMATS, max_pixels=10**9)
    made[fmt] = [v.width for v in imaging.make_upload(data, probe, DEFAULT_VARIANTS).variants]
print(json.dumps({
    "made": made,
    "turbojpeg": getattr(jpeg_decoder.simplejpeg, "__file__", None),
    "numpy": getattr(sys.modules.get("numpy"), "__file__", None),
    "libwebp": webp_decoder._LIBWEBP and webp_decoder._LIBWEBP._name,
    "libspng": getattr(png_decoder.pyspng, "__file__", None),
}))
"""


def test_the_package_decodes_with_turbojpeg_libwebp_and_libspng_from_its_own_files(run, tmp_path):
    with zipfile.ZipFile(run["zip"]) as package:
        package.extractall(tmp_path)
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _FASTER_DECODERS, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    variants = [256, 1600, 1280]
    assert facts["made"] == {"JPEG": variants, "WEBP": variants, "PNG": variants}
    for library in ("turbojpeg", "numpy", "libwebp", "libspng"):
        assert facts[library] and facts[library].startswith(str(tmp_path)), (library, facts)
