"""What the API function pays at cold start: importing app.py loads no imaging library and
creates no AWS client (clients are made on first use, see chalicelib/aws.py)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import sys
import app
from chalicelib import aws

imaging = sorted(m for m in sys.modules if m.split(".")[0] in ("PIL", "pillow_heif"))
assert not imaging, imaging
made = aws.client.cache_info().currsize + aws.table.cache_info().currsize
assert made == 0, made
assert aws._session.cache_info().currsize == 0
print(len(app.app.routes))
"""


def test_importing_the_app_loads_no_imaging_library_and_creates_no_client():
    environment = {
        **os.environ,
        "BUCKET_NAME": "bucket",
        "TABLE_NAME": "table",
        "USER_POOL_ID": "us-east-1_x",
        "APP_CLIENT_ID": "client",
        "USER_POOL_ARN": "arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 15  # the app really was imported, with its routes
