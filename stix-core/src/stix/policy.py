"""Admin policy: run every plugin's ``validate_task`` hook over a DAG before it is used.

Called by ``stix validate``, ``stix launch`` (also ``--dryrun``) and ``stix exec``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stix.task import Dag


def apply_policy(
    dag: Dag,
    request: str,
    *,
    cluster_name: str | None = None,
    dryrun: bool = False,
) -> Dag:
    """Return ``dag`` with each task checked (and possibly rewritten) by policy plugins.

    :param request: what the user asked for: ``validate``, ``launch``, ``exec``...
    :raises stix.errors.StixError: a policy rejected a task; the message names
        the policy plugin and its reason.
    """
    from stix.plugins import get_registry

    registry = get_registry()
    context = {"request": request, "cluster_name": cluster_name, "dryrun": dryrun}
    tasks = [registry.validate_task(task, context) for task in dag.tasks]
    if all(new is old for new, old in zip(tasks, dag.tasks, strict=True)):
        return dag
    import attrs

    return attrs.evolve(dag, tasks=tasks)


__all__ = ["apply_policy"]
