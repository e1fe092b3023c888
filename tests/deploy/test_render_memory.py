"""The API function renders on the fly, so its memory must hold the largest render: decode
of the original, the resized picture and the encoder's own buffers (AVIF's are large)."""

import json
import subprocess
import sys

import pytest

from tests.deploy import ROOT
from tests.support import corpus

# What the Lambda runtime, boto3 and the app take before a render starts.
RUNTIME_MB = 200

MEASURE = """
import sys
from chalicelib import imaging
from chalicelib.specs import Fit, RenderSpec

def peak_mb():
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM"))
    return int(line.split()[1]) // 1024

data = open(sys.argv[1], "rb").read()
probe = imaging.probe(
    data, allowed_formats=frozenset({"jpeg", "png"}), max_pixels=50_000_000
)
imaging.render(data, probe, RenderSpec(4096, 4096, Fit.COVER, 90, sys.argv[2], 60))
print(peak_mb())
"""


def api_memory_mb(stage: str) -> int:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    stage_config = config["stages"][stage]
    api = stage_config.get("lambda_functions", {}).get("api_handler", {})
    return api.get("lambda_memory_size", stage_config.get("lambda_memory_size", 128))


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("photo-20mp-kleiber.jpg", "avif"), ("png-rgba-15mp-patak.png", "avif")],
)
def test_the_api_function_holds_the_largest_render_of_a_real_photo(name, fmt):
    source = corpus.photos() / name
    measured = subprocess.run(
        [sys.executable, "-c", MEASURE, str(source), fmt],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    peak = int(measured.stdout)
    assert peak > 200  # the measurement sees the decode and the encoder
    for stage in ("dev", "prod"):
        assert peak + RUNTIME_MB <= api_memory_mb(stage), (stage, peak)
