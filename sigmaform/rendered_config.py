"""The configuration as rendered for one environment: plain data for policy tools.

Vars, overrides and `only:` are applied and `!file` prompts inlined by the project
loader; here each secret becomes the mask, so the output can be published to CI logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sigmaform.plan import normalise_targets
from sigmaform.resource import Project, Resource
from sigmaform.sensitive import MASK, Sensitive
from sigmaform.targets import check_targets, referenced_by_targets

RENDER_FORMAT_VERSION = 1


def masked(value: Any) -> Any:
    """`value` as plain data with every secret replaced by `(sensitive)`."""
    if isinstance(value, Sensitive):
        return MASK
    if isinstance(value, dict):
        return {str(k): masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(v) for v in value]
    return value


def selected(project: Project, targets: Sequence[str]) -> list[Resource]:
    """The resources `--target` names and those they reference; every one without targets."""
    if not targets:
        return list(project.resources)
    wanted = normalise_targets(targets)
    check_targets(wanted, {r.address for r in project.resources})
    reach = {*wanted, *referenced_by_targets(project.resources, wanted)}
    return [r for r in project.resources if r.address in reach]


def resource_dict(resource: Resource) -> dict[str, Any]:
    data: dict[str, Any] = {
        "address": resource.address,
        "kind": resource.kind,
        "name": resource.name,
        "source": resource.source,
    }
    if resource.protect:
        data["protect"] = True
    if resource.ignore_changes:
        data["ignoreChanges"] = list(resource.ignore_changes)
    data["spec"] = masked(resource.spec)
    if resource.gate is not None:
        data["gate"] = dict(resource.gate)
    return data


def rendered_config(project: Project, targets: Sequence[str] = ()) -> dict[str, Any]:
    """{formatVersion, environment, resources: [...]}, resources in address order."""
    resources = sorted(selected(project, targets), key=lambda r: r.address)
    return {
        "formatVersion": RENDER_FORMAT_VERSION,
        "environment": project.environment.name,
        "resources": [resource_dict(r) for r in resources],
    }
