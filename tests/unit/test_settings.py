"""Settings are read once, validated, and a bad one fails naming the variable."""

import pytest

from chalicelib.settings import SettingsError, from_environment
from chalicelib.specs import DEFAULT_VARIANTS, Fit

BASE = {
    "BUCKET_NAME": "b",
    "TABLE_NAME": "t",
    "USER_POOL_ID": "us-east-1_x",
    "APP_CLIENT_ID": "c",
    "AWS_REGION": "eu-west-1",
}


def test_defaults_match_the_design():
    config = from_environment(BASE)
    assert config.max_upload_bytes == 25 * 1024 * 1024
    assert config.max_pixels == 50_000_000
    assert config.variants == DEFAULT_VARIANTS
    assert config.upload_url_expiry_seconds <= 900
    assert config.user_pool_arn.endswith(":userpool/us-east-1_x")
    assert config.region == "eu-west-1"


@pytest.mark.parametrize("missing", ["BUCKET_NAME", "TABLE_NAME", "USER_POOL_ID", "APP_CLIENT_ID"])
def test_a_missing_name_fails_naming_it(missing):
    env = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        from_environment(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_UPLOAD_BYTES", "lots"),
        ("MAX_UPLOAD_BYTES", "0"),
        ("MAX_PIXELS", "-5"),
        ("ALLOWED_FORMATS", "jpeg,psd"),
        ("VARIANTS", "not json"),
        ("VARIANTS", '[{"name": "original", "width": 1, "height": 1}]'),
        ("VARIANTS", '[{"name": "a", "width": 10, "height": 10, "rotate": 45}]'),
        ("RENDER_SIZES", "640xabc"),
        ("ACCESS_CHECK_URL", "ftp://x/{collectionId}"),
        ("ACCESS_CHECK_URL", "https://api.example.com/journals"),
        ("ACCESS_CHECK_URL", "http://api.example.com/journals/{collectionId}"),
        ("ACCESS_CHECK_URL", "http://10.0.0.7/journals/{collectionId}"),
        ("ACCESS_CHECK_URL", "http://localhost/journals/{collectionId}"),
    ],
)
def test_a_malformed_setting_fails_naming_it(name, value):
    with pytest.raises(SettingsError, match=name):
        from_environment({**BASE, name: value})


def test_variants_and_limits_can_be_configured():
    config = from_environment(
        {
            **BASE,
            "ALLOWED_FORMATS": "jpeg, PNG",
            "RENDER_SIZES": "640x480,320x",
            "VARIANTS": '[{"name": "square", "width": 300, "height": 300, "fit": "cover"}]',
        }
    )
    assert config.allowed_formats == {"jpeg", "png"}
    assert config.render_sizes == {(640, 480), (320, 0)}
    assert config.variants[0].fit == Fit.COVER


def test_settings_are_frozen():
    config = from_environment(BASE)
    with pytest.raises(AttributeError):
        config.bucket = "other"


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/journals/{collectionId}/access",
        "http://127.0.0.1:8080/journals/{collectionId}",
        "http://[::1]:8080/journals/{collectionId}",
    ],
)
def test_the_access_check_is_https_or_plain_http_to_this_machine_only(url):
    assert from_environment({**BASE, "ACCESS_CHECK_URL": url}).access_check_url == url
