"""`--target`: refuse one that matches nothing, and take in what a target references.

A target limits a plan to some resources. Like Terraform's `-target`, it also takes in
the resources those reference (a PhoneNumber's agents), because applying a number whose
agent does not exist yet cannot work; each one taken in says why in the plan.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sigmaform.errors import ConfigError
from sigmaform.kinds import KINDS
from sigmaform.resource import Resource


def check_targets(targets: Sequence[str], known: Collection[str]) -> None:
    """Refuse (exit 1) targets that name no declared or managed resource, with suggestions."""
    problems = []
    for target in targets:
        if target in known:
            continue
        import difflib  # here: only a message with a suggestion needs it

        close = difflib.get_close_matches(target, sorted(known), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        problems.append(f"--target {target}: no such resource in the files or in state{hint}")
    if problems:
        raise ConfigError("; ".join(problems))


def referenced_by_targets(resources: Sequence[Resource], targets: Sequence[str]) -> dict[str, str]:
    """Addresses that targeted resources reference but that were not targeted -> why included."""
    if not targets:
        return {}
    wanted = set(targets)
    included: dict[str, str] = {}
    for resource in resources:
        if resource.address not in wanted:
            continue
        for spec_field, (target_kind, _) in resource.kind_info.references.items():
            name = resource.spec.get(spec_field)
            if not isinstance(name, str):
                continue
            address = f"{KINDS[target_kind].prefix}.{name}"
            if address not in wanted:
                included.setdefault(
                    address,
                    f"included by --target {resource.address}, which references it ({spec_field})",
                )
    return dict(sorted(included.items()))


__all__ = ["check_targets", "referenced_by_targets"]
