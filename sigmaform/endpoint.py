"""Where an environment's API lives and which key it uses, checked before any request is made.

No network here: this turns an `Environment` plus the process environment into an
`Endpoint` (base URL, key, a label naming where the key came from) or a `ConfigError`
that names the variable to set -- never a key's value.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sigmaform.errors import ConfigError
from sigmaform.resource import LOCAL_SCHEME, Environment
from sigmaform.sensitive import Sensitive

BASE_URL_VAR = "SIGMAMIND_BASE_URL"
DEFAULT_KEY_VAR = "SIGMAMIND_API_KEY"
LOCAL_BASE_URL = "http://sigmamind.local"
LOCAL_API_KEY = "local"


@dataclass(frozen=True)
class Endpoint:
    """A resolved API endpoint. `api_key` is Sensitive so that printing this never leaks it."""

    base_url: str  # scheme://host[:port][/prefix], without a trailing /v1
    api_key: Sensitive | None
    key_label: str  # names where the key comes from, for messages: "SIGMAMIND_API_KEY_PROD"
    local_dir: Path | None = None  # the emulator's data directory for `local:` environments


def is_loopback(host: str) -> bool:
    """A loopback IP literal, or `localhost` itself (the hosts file answers for it). Other
    names, `x.localhost` included, are looked up in DNS, which may answer anything."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_base_url(url: str, *, allow_plain_http: bool = False) -> str:
    """The base URL without a trailing `/` or `/v1`, so request paths can all be `/v1/...`.

    Plain http:// is refused unless the host is a loopback address (a key sent in clear
    over a network is a leaked key), or `allow_plain_http` says no network is involved.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"base URL {url!r} is not an http(s) URL (or `local:DIR` for the emulator)"
        )
    if scheme == "http" and not allow_plain_http and not is_loopback(parts.hostname):
        raise ConfigError(
            f"refusing plain http:// for {parts.hostname}: the API key would travel unencrypted;"
            " use https:// (http:// is allowed only for loopback addresses)"
        )
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def resolve(env: Environment, project_root: Path, environ: Mapping[str, str]) -> Endpoint:
    """The endpoint for `env`: `SIGMAMIND_BASE_URL` overrides its base URL."""
    base_url = environ.get(BASE_URL_VAR) or env.base_url
    if base_url.startswith(LOCAL_SCHEME):
        directory = base_url[len(LOCAL_SCHEME) :].strip() or ".sigmaform/emulator"
        # The emulator keeps one workspace per key; a local environment needs no key, and a
        # real one from SIGMAMIND_API_KEY is deliberately not sent to it (it may be stored).
        key = environ.get(env.api_key_env) if env.api_key_env else None
        label = env.api_key_env if key and env.api_key_env else "the local emulator key"
        return Endpoint(
            base_url=LOCAL_BASE_URL,
            api_key=Sensitive(key or LOCAL_API_KEY, source=label),
            key_label=label,
            local_dir=project_root / directory,
        )
    try:
        normalised = normalise_base_url(base_url)
    except ConfigError as error:
        raise ConfigError(f"environment `{env.name}`: {error}") from None
    variable = env.api_key_env or DEFAULT_KEY_VAR
    key = environ.get(variable)
    if not key:
        raise ConfigError(f"environment `{env.name}` needs an API key: set {variable}")
    return Endpoint(
        base_url=normalised,
        api_key=Sensitive(key, source=variable),
        key_label=variable,
    )
