"""Tests of what `make vendor`, `make package`, `make infra` and the policies produce.

The scripts in scripts/ are programs, not a package: they import each other by file name,
so these tests put scripts/ on sys.path the way running them does.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))
