"""Resolving an environment's base URL and key, and refusing unsafe ones, before any request."""

from __future__ import annotations

from pathlib import Path

import pytest

from sigmaform.client import Client
from sigmaform.endpoint import normalise_base_url, resolve
from sigmaform.errors import ConfigError, SigmaformError
from sigmaform.resource import Environment

KEY = "sk-test-key-7f3a9c"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://api.sigmamind.ai", "https://api.sigmamind.ai"),
        ("https://api.sigmamind.ai/", "https://api.sigmamind.ai"),
        ("https://api.sigmamind.ai/v1", "https://api.sigmamind.ai"),
        ("https://api.sigmamind.ai/v1/", "https://api.sigmamind.ai"),
        ("https://gw.example.com/sigma/v1", "https://gw.example.com/sigma"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.9.9.9:8080/v1", "http://127.9.9.9:8080"),
        ("http://localhost:1234", "http://localhost:1234"),
        ("http://[::1]:1234", "http://[::1]:1234"),
    ],
)
def test_base_url_is_normalised_so_paths_start_with_v1(given: str, expected: str) -> None:
    assert normalise_base_url(given) == expected


@pytest.mark.parametrize(
    "url", ["http://example.com", "http://10.0.0.5:8080", "http://api.sigmamind.ai/v1"]
)
def test_plain_http_is_refused_for_non_loopback_hosts(url: str) -> None:
    with pytest.raises(ConfigError, match=r"refusing plain http:// for .*use https://"):
        Client(url, KEY)


def test_plain_http_to_loopback_is_allowed() -> None:
    with Client("http://127.0.0.1:9", KEY) as client:
        assert client.base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize("url", ["ftp://example.com", "not a url", "https://"])
def test_a_base_url_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="is not an http"):
        normalise_base_url(url)


def test_missing_key_names_the_environments_variable(tmp_path: Path) -> None:
    env = Environment(name="staging", api_key_env="SIGMAMIND_API_KEY_STAGING")
    with pytest.raises(ConfigError) as caught:
        Client.for_environment(env, tmp_path, environ={"SIGMAMIND_API_KEY": KEY})
    assert str(caught.value) == (
        "environment `staging` needs an API key: set SIGMAMIND_API_KEY_STAGING"
    )


def test_missing_key_without_api_key_env_names_the_fallback_variable(tmp_path: Path) -> None:
    env = Environment(name="dev")
    with pytest.raises(
        ConfigError, match=r"environment `dev` needs an API key: set SIGMAMIND_API_KEY$"
    ):
        Client.for_environment(env, tmp_path, environ={})


def test_key_comes_from_the_named_variable_and_never_shows(tmp_path: Path) -> None:
    env = Environment(name="prod", api_key_env="SIGMAMIND_API_KEY_PROD")
    endpoint = resolve(env, tmp_path, {"SIGMAMIND_API_KEY_PROD": KEY, "SIGMAMIND_API_KEY": "other"})
    assert endpoint.api_key is not None and endpoint.api_key.reveal() == KEY
    assert endpoint.key_label == "SIGMAMIND_API_KEY_PROD"
    assert KEY not in repr(endpoint)
    with Client.for_environment(env, tmp_path, environ={"SIGMAMIND_API_KEY_PROD": KEY}) as client:
        assert KEY not in repr(client)
        assert "SIGMAMIND_API_KEY_PROD" in repr(client)
        assert client.base_url == "https://api.sigmamind.ai"


def test_fallback_key_variable(tmp_path: Path) -> None:
    endpoint = resolve(Environment(name="dev"), tmp_path, {"SIGMAMIND_API_KEY": KEY})
    assert endpoint.api_key is not None and endpoint.api_key.reveal() == KEY
    assert endpoint.key_label == "SIGMAMIND_API_KEY"


def test_base_url_override_from_the_process_environment(tmp_path: Path) -> None:
    environ = {"SIGMAMIND_BASE_URL": "http://127.0.0.1:8123/v1", "SIGMAMIND_API_KEY": KEY}
    with Client.for_environment(Environment(name="dev"), tmp_path, environ=environ) as client:
        assert client.base_url == "http://127.0.0.1:8123"


def test_override_to_plain_http_elsewhere_is_refused_naming_the_environment(
    tmp_path: Path,
) -> None:
    environ = {"SIGMAMIND_BASE_URL": "http://example.com", "SIGMAMIND_API_KEY": KEY}
    with pytest.raises(ConfigError, match=r"^environment `dev`: refusing plain http://"):
        Client.for_environment(Environment(name="dev"), tmp_path, environ=environ)


def test_local_environment_needs_no_key_and_keeps_data_under_the_project(tmp_path: Path) -> None:
    env = Environment(name="local", base_url="local:.sigmaform/emulator")
    endpoint = resolve(env, tmp_path, {"SIGMAMIND_API_KEY": KEY})
    assert endpoint.local_dir == tmp_path / ".sigmaform/emulator"
    assert endpoint.base_url == "http://sigmamind.local"
    # A real key in the fallback variable is not handed to the emulator, which may store it.
    assert endpoint.api_key is not None and endpoint.api_key.reveal() == "local"


def test_local_environment_uses_its_own_key_variable_when_set(tmp_path: Path) -> None:
    env = Environment(name="local", base_url="local:emu", api_key_env="LOCAL_KEY")
    endpoint = resolve(env, tmp_path, {"LOCAL_KEY": "workspace-b"})
    assert endpoint.api_key is not None and endpoint.api_key.reveal() == "workspace-b"


def test_config_errors_are_part_of_the_error_family() -> None:
    with pytest.raises(SigmaformError):
        Client("http://example.com", None)
