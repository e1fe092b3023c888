"""What the API function pays at cold start: importing app.py loads no imaging library, does
not import boto3 (botocore's small config and exception modules, yes) and creates no AWS
client (clients are made on first use, see chalicelib/aws.py)."""

from tests.support.routes import run_with_the_app

CHECK = """
import sys
import app
from chalicelib import aws

imaging = sorted(m for m in sys.modules if m.split(".")[0] in ("PIL", "pillow_heif"))
assert not imaging, imaging
assert "boto3" not in sys.modules, sorted(m for m in sys.modules if m.startswith("boto3"))
made = aws.client.cache_info().currsize + aws.table.cache_info().currsize
assert made == 0, made
assert aws._session.cache_info().currsize == 0
print(len(app.app.routes))
"""


def test_importing_the_app_loads_no_imaging_library_nor_boto3_and_creates_no_client():
    done = run_with_the_app(CHECK)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 15  # the app really was imported, with its routes
