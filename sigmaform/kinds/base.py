"""The contract one kind of resource has with the API, and the generic REST behaviour.

A kind module (`agent.py`, `phone_number.py`, ...) declares a `Kind`: its paths, update
verb, query parameters every call needs, id and identity fields, references, server-owned,
merged and sensitive fields, the transforms between spec and wire and the order an import
writes. Lists are read through the client, which takes a paged object or a bare array
from any of them. The core (plan, diff, apply, state, client transport) asks the kind; it
does not name one.

Calls go through `Api`, the client's transport primitives, so this package needs no
HTTP library (every command imports it; only those that talk to the API load httpx).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

from sigmaform.errors import ApiError, ConfigError

# Returned by `Api.request(..., missing_ok=True)` for a 404 the caller expects.
MISSING: Any = object()

# Looks up the remote id of a managed resource by kind name and logical name.
Resolve = Callable[[str, str], "str | None"]


class Api(Protocol):
    """What a kind needs from the client: one request, one whole listing, the server profile."""

    @property
    def profile(self) -> Any: ...

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        missing_ok: bool = False,
        recover: Callable[[], Any] | None = None,
    ) -> Any: ...

    def list_all(
        self,
        path: str,
        id_field: str,
        params: dict[str, Any] | None = None,
        each: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]: ...


def segment(value: str) -> str:
    """A path segment with everything reserved escaped: `+1415...` -> `%2B1415...`."""
    return quote(value, safe="")


def as_object(value: Any, method: str, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(method, path, None, "the server answered without the expected object")
    return value


# Servers truncate timestamps (the emulator to milliseconds, many to seconds).
_TIMESTAMP_PRECISION = timedelta(seconds=1)


def created_since(text: Any, started: datetime) -> bool:
    """Whether a server timestamp (ISO 8601; naive means UTC) is not before `started`.

    Used to tell the object a lost create made from older ones alike.
    """
    if not isinstance(text, str):
        return False
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when >= started - _TIMESTAMP_PRECISION


@dataclass(frozen=True)
class Kind:
    """How one kind of resource maps onto the API (subclasses override the hooks).

    A subclass adds methods, never fields, so it is not a `@dataclass` again: it inherits
    this one's generated methods (generating them anew costs ~1 ms of start-up per kind).
    """

    name: str  # as written in YAML: `kind: Agent`
    prefix: str  # state/plan address prefix: `agent.support`
    schema: str  # file name in schemas/
    id_field: str  # the remote id in API responses
    creatable: bool  # False: the object must already exist remotely; sigmaform adopts it
    deletable: bool  # False: "delete" only forgets it (removes it from state)
    path: str = ""  # the collection: `/v1/agents`; one object is `{path}/{id}`
    identity_field: str | None = None  # spec field holding the remote id of an adopted object
    # Spec field no two resources of this kind may share in one environment: two agents with
    # one agentName defeat the lost-create lookup; two resources for one number fight.
    unique_field: str | None = None
    # spec field -> (referenced kind, API field the resolved id is sent as)
    references: dict[str, tuple[str, str]] = field(default_factory=dict)
    server_owned: frozenset[str] = frozenset()
    order: int = 0  # lower applies first; deletes run in reverse
    # Responses that return a reference as a summary object instead of its id field:
    # response key -> API id field (a chat answers `agent: {name, agentId, status}`).
    reference_objects: dict[str, str] = field(default_factory=dict)
    # Response fields that carry the identity when `identity_field` itself is absent: the
    # docs' PhoneNumber object has `sipPhoneNumber` and no `phoneNumber`.
    identity_aliases: tuple[str, ...] = ()
    # Objects the API merges key by key on update (design.md section 9: an assumption,
    # checked by verify). Everything else is replaced whole.
    merged_objects: frozenset[str] = frozenset()
    # Fields whose values are sensitive wherever they appear in this kind's spec.
    sensitive_fields: frozenset[str] = frozenset()
    update_verb: str = "PATCH"
    # True for a PUT that replaces the object: every update sends every declared field.
    whole_updates: bool = False
    # Query parameters every call needs: parameter -> the spec reference it resolves
    # (a test case is read, replaced and deleted under its agent: `agentId`).
    scope: dict[str, str] = field(default_factory=dict)
    list_id_field: str | None = None  # the id of a list item, when not `id_field`
    # Verify a write by reading the object back, not by the write's answer.
    verify_by_read: bool = False
    # Import: the order an imported spec's fields are written in (the rest follow).
    import_order: tuple[str, ...] = ()

    # -- spec <-> wire -------------------------------------------------------------------

    def to_wire(self, body: dict[str, Any]) -> dict[str, Any]:
        """A request body in the API's form (spec names, references already resolved)."""
        return body

    def from_wire(self, body: dict[str, Any]) -> dict[str, Any]:
        """An API object with the spec's names and shapes (idempotent)."""
        return body

    def nested_ids(self, body: Mapping[str, Any]) -> dict[str, dict[str, str]]:
        """Server ids of nested items we must echo back on update (webhooks by name)."""
        return {}

    def with_nested_ids(
        self, body: dict[str, Any], known: Mapping[str, Mapping[str, str]]
    ) -> dict[str, Any]:
        """An update body with the nested ids state knows put back in."""
        return body

    def closed(self, body: Mapping[str, Any]) -> str | None:
        """Why a remote object can no longer be changed, or None."""
        return None

    def scope_params(
        self, spec: Mapping[str, Any], resolve: Resolve, address: str
    ) -> dict[str, str]:
        """The query parameters this resource's calls need, from its spec's references."""
        params: dict[str, str] = {}
        for param, spec_field in self.scope.items():
            target_kind = self.references[spec_field][0]
            name = spec.get(spec_field)
            found = resolve(target_kind, str(name)) if isinstance(name, str) else None
            if found is None:
                raise ConfigError(
                    f"{address}: cannot tell which {target_kind} it belongs to: "
                    f"`{spec_field}: {name}` has no id in state"
                )
            params[param] = found
        return params

    # -- calls ---------------------------------------------------------------------------

    def item_path(self, remote_id: str) -> str:
        return f"{self.path}/{segment(remote_id)}"

    def get(
        self, api: Api, remote_id: str, params: dict[str, str] | None = None
    ) -> dict[str, Any] | None:
        path = self.item_path(remote_id)
        result = api.request("GET", path, params=params or None, missing_ok=True)
        return None if result is MISSING else self.from_wire(as_object(result, "GET", path))

    def create(
        self, api: Api, body: dict[str, Any], params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        result = api.request("POST", self.path, params=params or None, body=self.to_wire(body))
        created = self.from_wire(as_object(result, "POST", self.path))
        if not isinstance(created.get(self.id_field), str) or not created[self.id_field]:
            raise ApiError(
                "POST",
                self.path,
                None,
                f"the server answered the create of a {self.name} without its"
                f" `{self.id_field}`: it may exist now",
            )
        return created

    def update(
        self, api: Api, remote_id: str, body: dict[str, Any], params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        path = self.item_path(remote_id)
        result = api.request(self.update_verb, path, params=params or None, body=self.to_wire(body))
        return self.from_wire(as_object(result, self.update_verb, path))

    def delete(self, api: Api, remote_id: str, params: dict[str, str] | None = None) -> None:
        api.request("DELETE", self.item_path(remote_id), params=params or None, missing_ok=True)

    def list(
        self,
        api: Api,
        params: dict[str, str] | None = None,
        then: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """Every object, as the specs name its fields; `then` is applied to each as its
        page arrives (a caller that keeps less than the whole answer)."""
        convert = self.from_wire if then is None else (lambda item: then(self.from_wire(item)))
        return api.list_all(self.path, self.list_id_field or self.id_field, params or None, convert)
