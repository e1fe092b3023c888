"""Every accepted file is processed within half the upload function's memory, measured as the
peak resident memory (VmHWM) of a fresh process capped like the function (RLIMIT_AS at its
2048 MB); one over the bound fails with a code instead of being killed. The worker and the
worst cases are scripts/limits.py's, which makes the full table in docs/limits.md."""

import importlib.util
import json
from pathlib import Path

import pytest

from chalicelib import imaging, settings
from chalicelib.specs import DEFAULT_VARIANTS

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_MB = 2048
BOUND_MB = FUNCTION_MB // 2


def load_limits():
    spec = importlib.util.spec_from_file_location("limits", ROOT / "scripts" / "limits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


limits = load_limits()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("limits")


@pytest.mark.parametrize(
    "case",
    [
        "png-RGB-1x20000000",  # was 2.2 GB and 16 s
        "png-L-1x50000000",  # was 5.8 GB
        "png-16bit-grey-7071x7071",
        "tiff-CMYK-7071x7071",
        "webp-lossless-RGBA-7071x7071",  # libwebp's scaled decode (was the heaviest)
        "webp-3-frames-RGBA-7071x7071",  # Pillow's animation decoder: the heaviest now
    ],
)
@pytest.mark.slow
def test_a_worst_case_at_the_limits_is_processed_within_half_the_functions_memory(folder, case):
    measured = limits.measure(limits.case_file(case, folder), FUNCTION_MB)
    assert measured["verdict"] == "ready", measured
    assert measured["peakMb"] <= BOUND_MB, measured
    # The bound holds because the header's estimate is never below what decoding took.
    assert measured["estimateMb"] >= measured["peakMb"], measured


@pytest.mark.slow
def test_a_file_over_the_bound_fails_with_a_code_before_decoding_instead_of_being_killed(folder):
    path = limits.case_file("png-RGBA-1x50000000", folder)  # 1.2 GB: a row pointer a pixel
    measured = limits.measure(path, FUNCTION_MB)
    assert measured["verdict"] == "failed: too_large_to_process", measured
    assert measured["peakMb"] < 100, measured  # refused from the header: nothing was decoded


@pytest.mark.slow
def test_the_refused_file_would_have_exceeded_the_bound_without_the_estimate(folder):
    """The refusal is warranted: processed anyway (no budget), it peaks above the bound."""
    path = limits.case_file("png-RGBA-1x50000000", folder)
    unbounded = limits.measure(path, FUNCTION_MB, budget=False)
    assert unbounded.get("peakMb") is None or unbounded["peakMb"] > BOUND_MB, unbounded


def test_the_memory_setting_fits_the_functions_that_process_uploads():
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert settings.Settings.processing_memory_mb == FUNCTION_MB
    for stage in config["stages"].values():
        for name in ("handle_upload", "cleanup"):  # the cleanup's re-drives process too
            assert stage["lambda_functions"][name]["lambda_memory_size"] >= FUNCTION_MB, name


def test_a_tall_thin_image_is_estimated_dearer_than_a_wide_one_of_the_same_pixels():
    """Pillow keeps a pointer to every row of every copy: 50 million rows in RGBA cost
    400 MB a copy on top of their 200 MB of pixels (measured: 1.2 GB against 0.6 GB)."""
    tall = imaging.Probe("png", "image/png", 1, 50_000_000, 1, True, 1, mode="RGBA")
    wide = imaging.Probe("png", "image/png", 50_000_000, 1, 1, True, 1, mode="RGBA")
    budget = BOUND_MB * 2**20
    assert imaging.estimate_memory(tall, DEFAULT_VARIANTS) > budget
    assert imaging.estimate_memory(wide, DEFAULT_VARIANTS) < budget
