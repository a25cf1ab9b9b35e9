"""``tyk-migrate.toml``: the settings that stay the same between runs, one section per portal, below the
environment and the flags, and never a token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tyk_migrate.cli import cli
from tyk_migrate.config import Settings, load_config_file
from tyk_migrate.errors import ConfigError

GOOD = "key,email,plan,apis\nGoodKeyValue0001x,a@b.example,p1,x\nGoodKeyValue0002x,c@d.example,p1,x;y\n"
CONFIG = """
min_key_length = 12
mapping = "mapping.yaml"

[portal.rehearsal]
portal_url = "{rehearsal}"
gateway_url = "{rehearsal}/gateway"

[portal.production]
portal_url = "https://portal.example.com"
min_key_length = 20
auth_token_type = "AUTH_TOKEN_CUSTOM"
"""
#: Settings the tests must not inherit from the machine's environment.
CLEAN = {"TYK_PORTAL_URL": None, "TYK_GATEWAY_URL": None, "TYK_MIN_KEY_LENGTH": None, "TYK_AUTH_TOKEN_TYPE": None}


def write_config(folder: Path, rehearsal: str = "http://127.0.0.1:3001", extra: str = "") -> Path:
    path = folder / "tyk-migrate.toml"
    path.write_text(CONFIG.format(rehearsal=rehearsal) + extra, encoding="utf-8")
    return path


def test_a_portal_section_goes_over_the_top_level_and_paths_are_the_files(tmp_path: Path) -> None:
    write_config(tmp_path)
    plain = load_config_file(cwd=tmp_path)
    assert plain.values == {"min_key_length": 12, "mapping": str(tmp_path / "mapping.yaml")}
    prod = load_config_file(profile="production", cwd=tmp_path)
    assert prod.profile == "production" and prod.min_key_length == 20
    assert prod.settings() == {
        "min_key_length": 20,
        "portal_url": "https://portal.example.com",
        "auth_token_type": "AUTH_TOKEN_CUSTOM",
    }
    assert "[portal.production]" in prod.describe()
    (tmp_path / "tyk-migrate.toml").write_text('portal_profile = "rehearsal"\n' + CONFIG.format(rehearsal="http://x:1"))
    assert load_config_file(cwd=tmp_path).values["portal_url"] == "http://x:1"  # the file's default section
    assert load_config_file(cwd=tmp_path / "nowhere").values == {}  # no file: nothing, and no error


def test_the_environment_and_then_the_arguments_win_over_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TYK_PORTAL_URL", "TYK_MIN_KEY_LENGTH", "TYK_AUTH_TOKEN_TYPE"):
        monkeypatch.delenv(name, raising=False)
    from_file = {"portal_url": "https://file.example.com", "min_key_length": 20, "auth_token_type": "AUTH_TOKEN_CUSTOM"}
    assert Settings.from_env(defaults=from_file).portal_url == "https://file.example.com"
    monkeypatch.setenv("TYK_PORTAL_URL", "https://env.example.com")
    monkeypatch.setenv("TYK_MIN_KEY_LENGTH", "")  # set but empty: as if unset
    settings = Settings.from_env(defaults=from_file)
    assert (settings.portal_url, settings.min_key_length, settings.auth_token_type) == (
        "https://env.example.com",
        20,
        "AUTH_TOKEN_CUSTOM",
    )
    assert Settings.from_env(defaults=from_file, portal_url="https://flag.example.com").portal_url == (
        "https://flag.example.com"
    )


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ('\n[portal.staging]\ntoken = "s3cr3t-admin-token-value"\n', "tokens come from TYK_PORTAL_TOKEN"),
        ('\n[portal.staging]\nportal_token = "s3cr3t-admin-token-value"\n', "tokens come from TYK_PORTAL_TOKEN"),
        ('\n[portal.staging]\nportal_ulr = "s3cr3t-admin-token-value"\n', "unknown setting 'portal_ulr'"),
        ('\n[portal.staging]\nmin_key_length = "s3cr3t-admin-token-value"\n', "min_key_length must be a whole number"),
        ("\n[portal.staging\n", "not valid TOML"),
    ],
)
def test_a_token_or_a_mistake_anywhere_in_the_file_is_one_line_that_never_shows_the_value(
    tmp_path: Path, extra: str, words: str
) -> None:
    write_config(tmp_path, extra=extra)
    with pytest.raises(ConfigError) as err:
        load_config_file(profile="rehearsal", cwd=tmp_path)  # not even the section in use
    assert words in str(err.value) and "s3cr3t" not in str(err.value) and "\n" not in str(err.value)


def test_an_unknown_section_or_a_missing_file_is_refused(tmp_path: Path) -> None:
    write_config(tmp_path)
    with pytest.raises(ConfigError, match=r"no \[portal.prod\] section \(sections: production, rehearsal\)"):
        load_config_file(profile="prod", cwd=tmp_path)
    with pytest.raises(ConfigError, match=r"config file .* not found"):
        load_config_file(tmp_path / "other.toml")
    with pytest.raises(ConfigError, match=r"--portal-profile rehearsal: no tyk-migrate\.toml"):
        load_config_file(profile="rehearsal", cwd=tmp_path / "elsewhere")


def invoke(args: list[str], cwd: Path, env: dict[str, Any]) -> Any:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        return CliRunner().invoke(cli, args, env={**CLEAN, **env}, catch_exceptions=False)


def test_plan_reads_its_portal_from_the_chosen_section_and_flags_or_env_override_it(
    sandbox: Any, seed_data: dict[str, Any], tmp_path: Path
) -> None:
    dev = next(u["Email"] for u in seed_data["users"] if u["Active"] and u["OrganisationID"] != 0)
    (tmp_path / "keys.csv").write_text(
        f"key_id,owner_email,app_name,alias,plan,products\nfresh-key-000000000001,{dev},A,a,Standard,Accounts\n"
    )
    (tmp_path / "mapping.yaml").write_text("plans: {}\n")
    write_config(tmp_path, rehearsal=sandbox.url)
    token = {"TYK_PORTAL_TOKEN": sandbox.token}
    result = invoke(["plan", "keys.csv", "--portal-profile", "rehearsal"], tmp_path, token)
    assert result.exit_code == 0, result.output
    assert f"portal  {sandbox.portal_url}" in result.output
    # the production section's portal does not exist: a flag, or the environment, wins over it
    result = invoke(
        ["plan", "keys.csv", "--portal-profile", "production", "--portal-url", sandbox.url], tmp_path, token
    )
    assert result.exit_code == 0, result.output
    result = invoke(
        ["plan", "keys.csv", "--portal-profile", "production"], tmp_path, {**token, "TYK_PORTAL_URL": sandbox.url}
    )
    assert result.exit_code == 0, result.output
    # an explicit file without a section: its top level holds no portal, and the message names the file
    result = invoke(["plan", "keys.csv", "--config", str(tmp_path / "tyk-migrate.toml")], tmp_path, token)
    assert result.exit_code == 2 and "no portal URL" in result.output and "tyk-migrate.toml" in result.output


def test_min_key_length_and_mapping_come_from_the_file_unless_a_flag_or_env_says(tmp_path: Path) -> None:
    (tmp_path / "keys.csv").write_text(GOOD)
    (tmp_path / "tyk-migrate.toml").write_text("min_key_length = 40\n")
    result = invoke(["validate", "keys.csv"], tmp_path, {})
    assert result.exit_code == 1 and "key_too_short" in result.output
    assert invoke(["validate", "keys.csv", "--min-key-length", "8"], tmp_path, {}).exit_code == 0
    assert invoke(["validate", "keys.csv"], tmp_path, {"TYK_MIN_KEY_LENGTH": "8"}).exit_code == 0
    aws = tmp_path / "aws.csv"
    aws.write_text("Name,Value,Contact,UsagePlan,Stages\nk,GoodKeyValue0001x,a@b.example,gold,prod\n")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "m.yaml").write_text(
        "key_id: Value\nowner_email: Contact\nplan: UsagePlan\nproducts: Stages\n"
    )
    (tmp_path / "conf" / "tyk-migrate.toml").write_text('mapping = "m.yaml"\n')  # relative to the file
    result = invoke(["validate", "aws.csv", "--config", "conf/tyk-migrate.toml"], tmp_path, {})
    assert result.exit_code == 0, result.output


def test_a_token_in_the_file_stops_the_command_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "keys.csv").write_text(GOOD)
    (tmp_path / "tyk-migrate.toml").write_text('[portal.rehearsal]\ntoken = "s3cr3t-admin-token-value"\n')
    result = invoke(["validate", "keys.csv"], tmp_path, {})
    assert result.exit_code == 2, result.output
    assert "tokens come from TYK_PORTAL_TOKEN" in result.output and "s3cr3t" not in result.output
    assert not (tmp_path / "keys.rejects.csv").exists()


def test_the_gateway_and_token_type_of_the_section_reach_the_command_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tyk_migrate.cli.session import Session

    for name in ("TYK_PORTAL_URL", "TYK_GATEWAY_URL", "TYK_AUTH_TOKEN_TYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TYK_PORTAL_TOKEN", "t0ken")
    write_config(tmp_path, rehearsal="http://127.0.0.1:3001")
    monkeypatch.chdir(tmp_path)
    session = Session("verify", portal_profile="rehearsal")
    session.start()
    settings = session.settings()
    assert (settings.portal_url, settings.gateway_url) == ("http://127.0.0.1:3001", "http://127.0.0.1:3001/gateway")
    assert session.base_url == "http://127.0.0.1:3001/portal-api"
    production = Session("verify", portal_profile="production")
    production.start()
    assert production.settings().auth_token_type == "AUTH_TOKEN_CUSTOM"
    assert production.settings(gateway_url="https://gw.example.com").gateway_url == "https://gw.example.com"
