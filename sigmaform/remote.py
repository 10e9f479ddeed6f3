"""Turn API responses and rendered specs into one comparable, spec-shaped form.

Comparison happens between three values per resource -- desired (files), applied
(state) and remote (API) -- and they only compare equal if they are in the same form:
field names canonical, references as logical names, secrets as keyed fingerprints,
server-owned and undeclared fields left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sigmaform.diff import project
from sigmaform.kinds import KINDS, SENSITIVE_KEYS, Kind
from sigmaform.sensitive import (
    Sensitive,
    fingerprint,
    fingerprint_like,
    fingerprint_tree,
    is_fingerprint,
)

# Objects the API merges key by key on update, by kind (declared by each kind module).
MERGED_OBJECTS: dict[str, frozenset[str]] = {k.name: k.merged_objects for k in KINDS.values()}


def comparable_desired(spec: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """The desired spec with secrets as fingerprints (references stay logical names)."""
    out = fingerprint_tree(dict(spec), key)
    assert isinstance(out, dict)
    return out


def _fingerprint_secrets(value: Any, key: bytes) -> Any:
    """Fingerprint plain-text secrets the server returned (webhook `secret` fields)."""
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if k in SENSITIVE_KEYS and isinstance(v, str) and not is_fingerprint(v):
                out[k] = fingerprint(v, key)
            elif isinstance(v, Sensitive):
                out[k] = v.fingerprint(key)
            else:
                out[k] = _fingerprint_secrets(v, key)
        return out
    if isinstance(value, list):
        return [_fingerprint_secrets(v, key) for v in value]
    return value


def remote_to_spec(
    kind: Kind,
    body: Mapping[str, Any],
    key: bytes,
    id_to_name: Mapping[str, str],
    like: tuple[Any, ...] = (),
) -> dict[str, Any]:
    """An API object in spec form: canonical names, references by name, secrets fingerprinted.

    `id_to_name` maps remote agent ids to logical names; an id we do not manage shows as
    `id:<value>` so it never compares equal to a name. Secrets are the webhook `secret`
    fields and, in any field, whatever `like` (desired or applied) holds as a fingerprint.
    """
    result = fingerprint_like(
        _fingerprint_secrets(plain_spec(kind, body, id_to_name), key), like, key
    )
    assert isinstance(result, dict)
    return result


def plain_spec(
    kind: Kind, body: Mapping[str, Any], id_to_name: Mapping[str, str]
) -> dict[str, Any]:
    """An API object in spec form with its values as the server sent them (secrets too)."""
    data = dict(kind.from_wire(dict(body)))
    if kind.identity_field and kind.identity_field not in data:
        alias = next((a for a in kind.identity_aliases if a in data), None)
        if alias is not None:
            data[kind.identity_field] = data[alias]
    for owned in kind.server_owned:
        data.pop(owned, None)
    if kind.id_field != kind.identity_field:
        data.pop(kind.id_field, None)
    for field_name, api_field in kind.reference_objects.items():
        summary = data.pop(field_name, None)
        if isinstance(summary, Mapping) and api_field not in data:
            data[api_field] = summary.get(api_field)
    for spec_field, (_, api_field) in kind.references.items():
        if api_field in data:
            ref = data.pop(api_field)
            data[spec_field] = None if ref is None else _agent_name(str(ref), id_to_name)
    return data


def _fill_write_only(remote: Any, desired: Any) -> Any:
    """Assume write-only fields hold what we declared when the server does not echo them.

    A server may never return a webhook `secret`; without this, such a field could never
    verify and would show as a change forever.
    """
    if isinstance(remote, dict) and isinstance(desired, Mapping):
        out = dict(remote)
        for k, v in desired.items():
            if k in SENSITIVE_KEYS and k not in out:
                out[k] = v
            elif k in out:
                out[k] = _fill_write_only(out[k], v)
        return out
    if isinstance(remote, list) and isinstance(desired, list):
        return [_fill_write_only(r, d) for r, d in zip(remote, desired, strict=False)] + remote[
            len(desired) :
        ]
    return remote


def observed(
    kind: Kind,
    body: Mapping[str, Any],
    desired: Mapping[str, Any],
    key: bytes,
    id_to_name: Mapping[str, str],
) -> dict[str, Any]:
    """What the server holds for the fields declared in `desired` (comparable form)."""
    spec = _fill_write_only(remote_to_spec(kind, body, key, id_to_name, (desired,)), desired)
    out = project(spec, desired)
    assert isinstance(out, dict)
    return out


def _agent_name(ref: str, id_to_name: Mapping[str, str]) -> str:
    """The logical name of a referenced agent id; `id:<ref>` for one we do not manage.

    The docs show agent ids both bare and prefixed (`agent_D5D0...` in summaries,
    sigmamind-api.md 2.1.4): both spellings name the same agent.
    """
    name = id_to_name.get(ref)
    if name is None and ref.startswith("agent_"):
        name = id_to_name.get(ref.removeprefix("agent_"))
    return name if name is not None else f"id:{ref}"


def nested_ids(kind: Kind, body: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Server ids of nested items we must echo back on update: webhooks by name."""
    return kind.nested_ids(body)
