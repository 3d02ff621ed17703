"""Task-level ``resources:``: expand ``any_of``/``ordered`` and multi-accelerator forms.

The result is a tuple of single-candidate ``Resources`` plus an ``ordered`` flag; the
reverse (dumping) is ``resources_to_yaml``.
"""

from __future__ import annotations

from typing import Any

from stix.task import values
from stix.task.problems import Invalid, Path, require_mapping
from stix.task.resources import Resources

# Keys that name the same thing: an entry setting one replaces the base's others.
_GROUPS = (
    {"accelerators", "gpus"},
    {"infra", "cloud", "region", "zone"},
    {"job_recovery", "spot_recovery"},
)
# Resources field -> YAML keys it may have come from (for error paths).
_FIELD_SOURCES = {
    "cloud": ("cloud", "infra"),
    "region": ("region", "infra"),
    "zone": ("zone", "infra"),
    "accelerators": ("accelerators", "gpus"),
    "job_recovery": ("job_recovery", "spot_recovery"),
}


def parse_task_resources(raw: Any) -> tuple[tuple[Resources, ...], bool]:
    """Raw ``resources:`` value -> (candidates, ordered)."""
    if raw is None:
        return (Resources(),), False
    base = dict(require_mapping(raw, (), "a mapping of resource fields"))
    any_of = base.pop("any_of", None)
    ordered = base.pop("ordered", None)
    if any_of is not None and ordered is not None:
        raise Invalid("use either 'any_of' or 'ordered', not both", ("ordered",))
    group_key = "any_of" if any_of is not None else "ordered"
    group = any_of if any_of is not None else ordered
    entries: list[tuple[dict[str, Any], Path]] = [({}, ())]
    if group is not None:
        if not isinstance(group, list) or not group:
            raise Invalid("must be a non-empty list of resource mappings", (group_key,))
        entries = [
            (require_mapping(item, (group_key, i), "a mapping of resource fields"), (group_key, i))
            for i, item in enumerate(group)
        ]
    is_ordered = ordered is not None
    out: list[Resources] = []
    for entry, where in entries:
        merged, origin = _merge(base, entry, where)
        acc_key = "gpus" if "gpus" in merged else "accelerators"
        acc_path = (*origin.get(acc_key, ()), acc_key)
        try:
            accs, form = values.parse_accelerators(merged.get(acc_key))
        except Invalid as exc:
            raise exc.under(acc_path) from None
        if form == "list" and any_of is not None:
            raise Invalid("an accelerator list (ordered) cannot be used with any_of", acc_path)
        if len(accs) > 1 and ordered is not None:
            raise Invalid("several accelerators cannot be used with ordered", acc_path)
        if form == "list":
            is_ordered = True
        for acc in accs:
            candidate = dict(merged)
            if acc_key in candidate:
                candidate[acc_key] = None if acc is None else {acc[0]: acc[1]}
            out.append(_structure(candidate, origin))
    unique: list[Resources] = []
    for item in out:
        if item not in unique:
            unique.append(item)
    return tuple(unique), is_ordered


def _merge(
    base: dict[str, Any], entry: dict[str, Any], where: Path
) -> tuple[dict[str, Any], dict[str, Path]]:
    merged = dict(base)
    origin: dict[str, Path] = {key: () for key in base}
    for group in _GROUPS:
        if group & entry.keys():
            for key in group:
                merged.pop(key, None)
    for key, value in entry.items():
        if key == "labels" and isinstance(value, dict) and isinstance(merged.get("labels"), dict):
            merged[key] = {**merged["labels"], **value}
        else:
            merged[key] = value
        origin[key] = where
    return merged, origin


def _structure(candidate: dict[str, Any], origin: dict[str, Path]) -> Resources:
    from stix.task.convert import structure_at

    try:
        return structure_at(candidate, Resources, ())
    except Invalid as exc:
        problems = [exc, *exc.others]
        mapped = [_relocate(p, origin) for p in problems]
        first = mapped[0]
        first.others = mapped[1:]
        raise first from None


def _relocate(problem: Invalid, origin: dict[str, Path]) -> Invalid:
    if not problem.path:
        return problem
    head, rest = problem.path[0], problem.path[1:]
    for key in _FIELD_SOURCES.get(head, (head,)):
        if key in origin:
            return Invalid(problem.message, (*origin[key], key, *rest), problem.hint)
    return problem


def resources_to_yaml(candidates: tuple[Resources, ...], ordered: bool) -> dict[str, Any]:
    """Canonical ``resources:`` mapping for a candidate tuple (inverse of parsing)."""
    if len(candidates) == 1 and not ordered:
        return candidates[0].to_yaml_config()
    return {("ordered" if ordered else "any_of"): [c.to_yaml_config() for c in candidates]}
