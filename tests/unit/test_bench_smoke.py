"""The benchmark's machinery, run once on one small generated image: it measures ours and
naive, each in its own worker, and writes the table and the JSON. No timing is judged.
(The floor and the competitors run from .bench/venv and Node, which only `make bench`
installs.)"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_smoke_run_of_the_benchmark_reports_every_implementation_and_target(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    results = json.loads((tmp_path / "results.json").read_text())
    (row,) = results["images"]
    assert set(row["implementations"]) == {"naive", "ours"}
    for result in row["implementations"].values():
        assert result["ms"] > 0
        assert result["cpu_ms"] > 0
        assert result["rss_mb"] >= 0
        assert len(result["bytes"]) == 3
    assert row["implementations"]["ours"]["difference_from_naive"] < 3
    assert {target["target"] for target in results["targets"]} >= {"naive/ours >= 4"}
    assert len(results["machine"]["load_average_at_start"]) == 3
    assert len(row["load_average"]) == 3
    assert results["machine"]["cores"] >= 1
    assert "| case | load | ours ms (CPU) | naive/ours | ours/floor |" in done.stdout
    assert "load average at start" in done.stdout
