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
from urllib.parse import unquote, urlsplit, urlunsplit

from sigmaform.errors import ConfigError
from sigmaform.resource import LOCAL_SCHEME, Environment
from sigmaform.sensitive import Sensitive, remember

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


def check_api_key(key: str, label: str) -> None:
    """Refuse a key no server would accept, before any request, without showing it.

    A trailing newline (a key read from a file) or surrounding spaces would otherwise
    reach the HTTP library, whose error quotes the header value: the key itself.
    """
    if key != key.strip() or any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise ConfigError(
            f"the API key in {label} has surrounding whitespace, a newline or another"
            " control character; set it to the key alone (it is not shown here)"
        )
    if not key.isascii():
        raise ConfigError(
            f"the API key in {label} holds non-ASCII characters, which no API key has;"
            " check the variable (it is not shown here)"
        )


def display_url(url: str) -> str:
    """`url` for messages: any `user:password@` in it shown as `***@`."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, "***@" + host, parts.path, parts.query, parts.fragment))


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
    try:
        parts = urlsplit(url.strip())
        hostname = parts.hostname
    except ValueError:  # e.g. an invalid port or IPv6 literal
        hostname = None
        parts = urlsplit("")
    if parts.password:  # masked in every later message, as written and decoded
        remember(parts.password)
        remember(unquote(parts.password))
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not hostname:
        raise ConfigError(
            f"base URL {display_url(url)!r} is not an http(s) URL (or `local:DIR` for the emulator)"
        )
    if scheme == "http" and not allow_plain_http and not is_loopback(hostname):
        raise ConfigError(
            f"refusing plain http:// for {hostname}: the API key would travel unencrypted;"
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
        if key and env.api_key_env:
            check_api_key(key, env.api_key_env)
        return Endpoint(
            base_url=LOCAL_BASE_URL,
            api_key=Sensitive(key or LOCAL_API_KEY, source=label, secret=bool(key)),
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
    check_api_key(key, variable)
    return Endpoint(
        base_url=normalised,
        api_key=Sensitive(key, source=variable),
        key_label=variable,
    )
