import pytest

from tyk_migrate.config import Settings, check_transport, is_loopback_host, portal_api_base
from tyk_migrate.errors import ConfigError


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://localhost:3001", "http://localhost:3001/portal-api"),
        ("https://portal.example.com/portal-api/", "https://portal.example.com/portal-api"),
    ],
)
def test_portal_api_base_accepts_host_or_full_base(given, expected):
    assert portal_api_base(given) == expected


def test_portal_api_base_refuses_garbage():
    with pytest.raises(ConfigError, match="portal URL"):
        portal_api_base("portal.example.com")


def test_settings_from_env_and_overrides(monkeypatch):
    monkeypatch.setenv("TYK_PORTAL_URL", "http://127.0.0.1:3001")
    monkeypatch.setenv("TYK_PORTAL_TOKEN", "s3cret-token")
    monkeypatch.setenv("TYK_AUTH_TOKEN_TYPE", "AUTH_TOKEN_CUSTOM")
    settings = Settings.from_env(min_key_length=12, gateway_url=None)
    assert settings.min_key_length == 12 and settings.auth_token_type == "AUTH_TOKEN_CUSTOM"
    assert settings.require_portal() == ("http://127.0.0.1:3001/portal-api", "s3cret-token")
    assert "s3cret-token" not in repr(settings)


def test_settings_refuse_bad_values(monkeypatch):
    monkeypatch.setenv("TYK_MIN_KEY_LENGTH", "eight")
    with pytest.raises(ConfigError, match="must be numbers"):
        Settings.from_env()
    monkeypatch.delenv("TYK_MIN_KEY_LENGTH")
    with pytest.raises(ConfigError, match="auth token type"):
        Settings.from_env(auth_token_type="AUTH_TOKEN_BEARER")


def test_plain_http_to_remote_portal_is_refused_unless_allowed(monkeypatch):
    monkeypatch.delenv("TYK_ALLOW_INSECURE_HTTP", raising=False)
    remote = Settings(portal_url="http://portal.example.com:3001", token="t")
    with pytest.raises(ConfigError, match="plain http"):
        remote.require_portal()
    assert Settings(portal_url="http://portal.example.com", token="t", allow_insecure_http=True).require_portal()
    with pytest.raises(ConfigError, match="no portal token"):
        Settings(portal_url="https://portal.example.com").require_portal()


@pytest.mark.parametrize(
    "url", ["HTTP://portal.example.com:3001", "Http://portal.example.com", " http://portal.example.com"]
)
def test_plain_http_is_refused_whatever_the_case_of_its_scheme(monkeypatch, url):
    # the check compared startswith("http://"): HTTP:// passed and the token went out in clear
    monkeypatch.delenv("TYK_ALLOW_INSECURE_HTTP", raising=False)
    with pytest.raises(ConfigError, match="refusing plain http to a remote portal"):
        Settings(portal_url=url, token="t").require_portal()
    assert Settings(portal_url="HTTP://LOCALHOST:3001", token="t").require_portal()[1] == "t"  # loopback is fine


@pytest.mark.parametrize("url", ["ftp://portal.example.com", "ws://portal.example.com", "file:///etc/passwd"])
def test_schemes_other_than_http_and_https_are_one_line(url):
    with pytest.raises(ConfigError) as err:
        check_transport(url, what="portal", carried="the token", allow_insecure_http=True)
    assert "\n" not in str(err.value) and "https://" in str(err.value)
    with pytest.raises(ConfigError, match="portal URL"):
        Settings(portal_url=url, token="t").require_portal()


def test_portal_and_gateway_share_the_one_plain_http_rule(monkeypatch):
    from tyk_migrate.verify import _gateway_base

    monkeypatch.delenv("TYK_ALLOW_INSECURE_HTTP", raising=False)
    with pytest.raises(ConfigError, match=r"refusing plain http to a remote gateway .*the keys would travel"):
        _gateway_base("HTTP://gw.example.com", None)
    assert _gateway_base("Http://gw.example.com", True) == "Http://gw.example.com"
    assert _gateway_base("http://[::1]:8080", None) == "http://[::1]:8080"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("::", False), ("", False), ("10.0.0.5", False), ("localhost.example.com", False)],
)  # fmt: skip
def test_loopback_hosts(host, loopback):
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    "url",
    ["http://evil.com℀@127.0.0.1", "https://[::1", "http://[zz]:1", "http://127.0.0.1\t:3000",
     "http://127.0.0.1:3911\\.evil.com", "http://127.0.0.1:99999"],
)  # fmt: skip
def test_odd_portal_and_gateway_urls_are_one_config_error_not_a_bug(url):
    """The review's URLs ended in exit 3 (ValueError from urlsplit or httpx) instead of one line."""
    with pytest.raises(ConfigError):
        check_transport(url, what="gateway", carried="keys", allow_insecure_http=False)
    with pytest.raises(ConfigError):
        portal_api_base(url)
