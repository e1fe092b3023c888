"""app.py and chalicelib know nothing of the local stack: no endpoints, no moto, no switch."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = re.compile(
    r"localhost|127\.0\.0\.1|moto|devserver|AWS_ENDPOINT_URL|IS_LOCAL|"
    r"is_local|LOCAL_STACK",
    re.IGNORECASE,
)


def deployed_sources() -> list[Path]:
    return [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]


def test_deployed_code_has_no_local_versus_cloud_branch():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in deployed_sources()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if FORBIDDEN.search(line)
    ]
    assert offenders == []


def test_the_check_would_notice_a_branch():
    assert FORBIDDEN.search('if os.environ.get("AWS_ENDPOINT_URL"):')
    assert FORBIDDEN.search("url = 'http://localhost:5000'")
