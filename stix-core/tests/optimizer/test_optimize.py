"""The optimizer on a small hand-made catalog with known answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from stix.errors import ResourcesUnavailableError
from stix.hookspecs import hookimpl
from stix.interfaces import CheckResult, Cloud
from stix.optimizer import Blocked, optimize
from stix.task import Dag, Task


def task(resources: Any = None, **fields: Any) -> Task:
    config = dict(fields)
    if resources is not None:
        config["resources"] = resources
    return Task.from_yaml_config(config)


def plan_for(registry: Any, catalog: Any, resources: Any = None, **kw: Any) -> Any:
    fields = {k: kw.pop(k) for k in ("num_nodes", "name", "outputs") if k in kw}
    return optimize(
        task(resources, **fields), registry=registry, catalog=catalog, allowed_clouds=None, **kw
    )


def test_cheapest_zone_wins_and_failover_walks_region_then_regions(
    registry: Any, catalog: Any
) -> None:
    tp = plan_for(registry, catalog, {"infra": "alpha", "cpus": 4}).tasks[0]
    assert (tp.chosen.instance_type, tp.chosen.zone, tp.chosen.hourly_cost) == (
        "a-cpu-4",
        "r1-b",
        0.19,
    )
    assert [c.zone for c in tp.failover[:3]] == ["r1-c", "r1-a", "r2-a"]
    assert tp.chosen.resources.instance_type == "a-cpu-4"
    assert tp.chosen.resources.zone == "r1-b"
    assert tp.chosen.launchable and tp.chosen.hint is None


def test_cheapest_cloud_wins(registry: Any, catalog: Any) -> None:
    tp = plan_for(registry, catalog, {"cpus": "4+"}).tasks[0]
    assert (tp.chosen.cloud, tp.chosen.region, tp.chosen.instance_type) == (
        "beta",
        "east",
        "b-cpu-4",
    )
    assert tp.failover[0].region == "west"
    assert {c.cloud for c in tp.considered} >= {"alpha", "beta"}


def test_spot_uses_the_spot_price_and_skips_clouds_without_spot(
    registry: Any, catalog: Any
) -> None:
    tp = plan_for(registry, catalog, {"cpus": 4, "use_spot": True}).tasks[0]
    assert (tp.chosen.cloud, tp.chosen.zone, tp.chosen.hourly_cost) == ("alpha", "r2-a", 0.04)
    assert tp.chosen.use_spot and tp.chosen.resources.use_spot
    assert all(c.cloud != "beta" for c in (tp.chosen, *tp.failover))


def test_accelerator_on_attachable_gcp_is_not_launchable(registry: Any, catalog: Any) -> None:
    tp = plan_for(registry, catalog, {"accelerators": "T4:1"}).tasks[0]
    assert (tp.chosen.cloud, tp.chosen.instance_type, tp.chosen.hourly_cost) == (
        "gcp",
        "n1-highmem-8",
        0.82,
    )
    assert not tp.chosen.launchable
    assert tp.chosen.hint == "pip install stix-gcp"
    with pytest.raises(ResourcesUnavailableError) as err:
        plan_for(registry, catalog, {"accelerators": "T4:1"}, launchable_only=True)
    assert "pip install stix-gcp" in str(err.value)


def test_launchable_clouds_are_preferred_over_cheaper_catalog_only_ones(
    registry: Any, catalog: Any
) -> None:
    tp = plan_for(registry, catalog, {"cpus": 8, "memory": 30}).tasks[0]
    # gcp n1-standard-8 (0.38) has no plugin; alpha/beta have no 8 vCPU/30 GiB; so gcp it is
    assert tp.chosen.cloud == "gcp"
    tp = plan_for(registry, catalog, {"cpus": "8+"}).tasks[0]
    assert (tp.chosen.cloud, tp.chosen.instance_type) == ("beta", "b-cpu-8")
    assert any(not c.launchable for c in tp.considered)


def test_ordered_resources_honour_the_order(registry: Any, catalog: Any) -> None:
    ordered = {"ordered": [{"accelerators": "A100:1"}, {"accelerators": "V100:1"}]}
    tp = plan_for(registry, catalog, ordered).tasks[0]
    assert tp.chosen.accelerators == {"A100": 1}
    assert tp.chosen.cloud == "alpha"
    assert tp.failover[-1].accelerators == {"V100": 1}  # later preference comes last
    any_of = {"any_of": [{"accelerators": "A100:1"}, {"accelerators": "V100:1"}]}
    assert plan_for(registry, catalog, any_of).tasks[0].chosen.accelerators == {"V100": 1}


def test_accelerator_aliases_and_memory_requests(registry: Any, catalog: Any) -> None:
    tp = plan_for(registry, catalog, {"accelerators": "a100-80gb:1"}).tasks[0]
    assert tp.chosen.instance_type == "b-gpu-a100-80gb-1"
    tp = plan_for(registry, catalog, {"accelerators": "80GB+:8"}).tasks[0]
    assert tp.chosen.accelerators == {"H100": 8}


def test_default_instance_when_nothing_is_requested(registry: Any, catalog: Any) -> None:
    tp = plan_for(registry, catalog, None).tasks[0]
    assert tp.chosen.vcpus >= 8
    assert (tp.chosen.cloud, tp.chosen.instance_type) == ("beta", "b-cpu-8")


def test_max_hourly_cost_and_blocked(registry: Any, catalog: Any) -> None:
    tp = plan_for(registry, catalog, {"accelerators": "A100:8", "max_hourly_cost": 23.5}).tasks[0]
    assert (tp.chosen.instance_type, tp.chosen.region) == ("a-gpu-a100-8", "r2")
    assert tp.failover == ()
    blocked = [Blocked("alpha", region="r2")]
    tp = plan_for(registry, catalog, {"accelerators": "A100:8"}, blocked=blocked).tasks[0]
    assert (tp.chosen.cloud, tp.chosen.region) == ("alpha", "r1")
    assert all(c.region != "r2" for c in tp.failover)
    tp = plan_for(registry, catalog, {"accelerators": "A100:8"}, blocked=[Blocked("alpha")]).tasks[
        0
    ]
    assert tp.chosen.cloud == "beta"


def test_features_exclude_clouds(registry: Any, catalog: Any) -> None:
    tp = plan_for(registry, catalog, {"cpus": 4, "ports": 8080}).tasks[0]
    assert tp.chosen.cloud == "alpha"  # beta cannot open ports
    with pytest.raises(ResourcesUnavailableError, match="ports"):
        plan_for(
            registry, catalog, {"infra": "beta", "cpus": 4, "ports": 8080}, launchable_only=True
        )


def test_a_disk_tier_needs_a_cloud_that_sets_tiers(registry: Any, catalog: Any) -> None:
    # a cloud without tiers (Lambda, RunPod, Vast, Kubernetes) cannot honour one...
    tp = plan_for(registry, catalog, {"cpus": 8, "disk_tier": "high"}).tasks[0]
    assert {c.cloud for c in (tp.chosen, *tp.failover)} == {"alpha"}
    with pytest.raises(ResourcesUnavailableError, match="beta: disk tier is not supported"):
        plan_for(registry, catalog, {"infra": "beta", "cpus": 8, "disk_tier": "high"})
    # ...but "best" asks for the best disk a cloud has, which any cloud can give
    tp = plan_for(registry, catalog, {"infra": "beta", "cpus": 8, "disk_tier": "best"}).tasks[0]
    assert tp.chosen.cloud == "beta"


@pytest.mark.parametrize(
    ("resources", "constraint", "nearest"),
    [
        ({"accelerators": "A100:16"}, "no offer has 16 A100 (the most any offer has is 8",
         "nearest feasible: a-gpu-a100-8 A100:8"),
        ({"infra": "alpha/r2", "cpus": 4, "use_spot": True, "max_hourly_cost": 0.01},
         "resources.max_hourly_cost: nothing costs under $0.01/h; the cheapest is a-cpu-4",
         "a-cpu-4"),
        ({"infra": "alpha/r9", "cpus": 4}, "alpha has no region 'r9'", "regions: r1, r2"),
        ({"infra": "alpha/r1/r1-x", "cpus": 4}, "alpha has no zone 'r1-x'", "did you mean r1-"),
        ({"infra": "alpha/r2", "accelerators": "A100:1"},
         "resources.infra: A100:1 is not offered in region r2", "regions offering it"),
        # CPU-only requests look at machines without accelerators (at most 8 vCPUs here)
        ({"cpus": "1000+"}, "resources.cpus: no offer has 1000+ vCPUs (the most any matching"
         " offer has is 8)", "try cpus: 8"),
        ({"cpus": "5"}, "no offer has 5 vCPUs (nearest offered: 4)", "try cpus: 4"),
        ({"memory": "5000+"}, "resources.memory: no offer has 5000+ GB", "try memory: 64; nearest feasible: a-mem-8"),
        ({"infra": "beta", "accelerators": "H100:8"}, "resources.accelerators: beta offers no"
         " H100", "H100 is offered on: alpha"),
        ({"infra": "beta", "accelerators": "V100:1", "use_spot": True},
         "beta: spot is not supported", "another infra"),
        ({"infra": "gcp", "accelerators": "tpu-v5litepod-8", "use_spot": True},
         "resources.use_spot: no spot price on gcp for this request", "drop use_spot"),
        ({"infra": "alpha", "accelerators": "A100:8", "use_spot": True, "memory": "1000+"},
         "resources.memory", "try memory: 680"),
        ({"instance_type": "a-cpu-44"}, "no catalog has an instance type named 'a-cpu-44'",
         "did you mean a-cpu-4"),
        ({"instance_type": "a-cpu-4", "accelerators": "A100:1"},
         "resources.instance_type: a-cpu-4 (alpha) has no accelerator", "drop instance_type"),
        ({"infra": "beta", "ports": 8080}, "beta: open ports is not supported",
         "nearest feasible: a-cpu-"),
        # a cloud left out for a feature, whose catalog has the machine, is named too
        ({"accelerators": "V100:1", "ports": 8080},
         "offer no V100; beta: open ports is not supported", "V100 is offered on: beta"),
    ],
)  # fmt: skip
def test_infeasible_names_the_constraint_and_the_nearest_option(
    registry: Any, catalog: Any, resources: Any, constraint: str, nearest: str
) -> None:
    with pytest.raises(ResourcesUnavailableError) as err:
        plan_for(registry, catalog, resources)
    assert constraint in err.value.message
    assert err.value.hint is not None and nearest in err.value.hint


def test_unknown_accelerator_suggests_names(registry: Any, catalog: Any) -> None:
    with pytest.raises(ResourcesUnavailableError) as err:
        plan_for(registry, catalog, {"accelerators": "A1000:1"})
    assert "A1000" in err.value.message
    assert "A100" in (err.value.hint or "")


def test_no_catalog_at_all(registry: Any, stix_home: Path) -> None:
    with pytest.raises(ResourcesUnavailableError) as err:
        optimize(task({"cpus": 4}), registry=registry, allowed_clouds=None)
    assert "stix catalog" in (err.value.hint or "")


def test_allowed_clouds_from_config(registry: Any, small_home: Path) -> None:
    (small_home / "config.yaml").write_text("allowed_clouds: [alpha]\n")
    tp = optimize(task({"cpus": "4+"}), registry=registry).tasks[0]
    assert tp.chosen.cloud == "alpha"
    assert {c.cloud for c in tp.considered} == {"alpha"}


def test_multi_node_cost_and_json(registry: Any, catalog: Any) -> None:
    plan = plan_for(registry, catalog, {"infra": "alpha", "cpus": 4}, num_nodes=3, name="x")
    assert plan.hourly_cost == pytest.approx(0.57)
    doc = plan.as_dict()
    first = doc["tasks"][0]
    assert (first["name"], first["num_nodes"], first["zone"], first["launchable"]) == (
        "x",
        3,
        "r1-b",
        True,
    )
    assert first["failover"][0]["zone"] == "r1-c"


def _chain(*tasks: Task) -> Dag:
    return Dag(tasks=list(tasks))


def test_chain_keeps_data_on_one_cloud_when_egress_is_dear(registry: Any, catalog: Any) -> None:
    first = task({"cpus": 4}, name="prep", outputs={"s3://bucket/data": 100})
    second = task({"accelerators": "H100:8"}, name="train")
    plan = optimize(_chain(first, second), registry=registry, catalog=catalog, allowed_clouds=None)
    # beta is 0.04/h cheaper for prep but moving 100 GB out of beta costs $10
    assert [tp.chosen.cloud for tp in plan.tasks] == ["alpha", "alpha"]
    assert plan.egress_cost == 0
    small = task({"cpus": 4}, name="prep", outputs={"s3://bucket/data": 0.1})
    plan = optimize(_chain(small, second), registry=registry, catalog=catalog, allowed_clouds=None)
    assert [tp.chosen.cloud for tp in plan.tasks] == ["beta", "alpha"]
    assert plan.egress_cost == pytest.approx(0.01)


def test_time_objective_uses_the_estimator(registry: Any, catalog: Any) -> None:
    def hours(t: Task, c: Any) -> float:
        return 0.5 if c.cloud == "alpha" else 2.0

    tp = optimize(
        task({"cpus": 4}), minimize="time", time_estimator=hours, registry=registry, catalog=catalog,
        allowed_clouds=None,
    ).tasks[0]  # fmt: skip
    assert tp.chosen.cloud == "alpha"
    assert tp.hours == 0.5
    with pytest.raises(Exception, match="minimize"):
        optimize(task({"cpus": 4}), minimize="speed", registry=registry, catalog=catalog)


def test_instance_type_alone_matches_its_built_in_accelerators(registry: Any, catalog: Any) -> None:
    tp = plan_for(registry, catalog, {"instance_type": "a-gpu-a100-8"}).tasks[0]
    assert (tp.chosen.region, tp.chosen.accelerators) == ("r2", {"A100": 8})


def test_tpu_node_is_priced_with_its_host(registry: Any, catalog: Any) -> None:
    resources = {"instance_type": "n1-highmem-8", "accelerators": "tpu-v5litepod-8"}
    tp = plan_for(registry, catalog, resources).tasks[0]
    assert (tp.chosen.instance_type, tp.chosen.zone) == ("n1-highmem-8", "us-central1-a")
    assert tp.chosen.hourly_cost == pytest.approx(0.47 + 9.60)


def test_fractional_gpu_is_served_by_a_whole_one(registry: Any, catalog: Any) -> None:
    tp = plan_for(registry, catalog, {"accelerators": "V100:0.5"}).tasks[0]
    assert (tp.chosen.instance_type, tp.chosen.accelerators) == ("b-gpu-v100-1", {"V100": 1})


class PoolCloud(Cloud):
    """A live-capacity cloud (no catalog) whose machines cannot be reached."""

    name: ClassVar[str] = "pool"
    uses_catalog: ClassVar[bool] = False

    def check(self) -> CheckResult:
        return CheckResult(True, "test pool")

    def live_offers(self, resources: Any, num_nodes: int) -> list[Any]:
        raise OSError("pool host 10.0.0.7 refused the connection")


class UnreachablePool:
    @hookimpl
    def register_clouds(self, register: Any) -> None:
        register(PoolCloud)


def test_a_live_cloud_that_cannot_answer_is_named_with_its_error(
    registry: Any, catalog: Any
) -> None:
    registry.register(UnreachablePool(), "pool")
    with pytest.raises(ResourcesUnavailableError) as err:
        plan_for(registry, catalog, {"infra": "pool", "cpus": 2})
    assert "pool: pool host 10.0.0.7 refused the connection" in err.value.message


def test_cpu_request_prefers_general_purpose_families(
    registry: Any, catalog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stix.optimizer.candidates as candidates
    from stix.catalog.query import OfferFilter
    from stix.optimizer.core import make_scope

    scope = make_scope(registry, catalog)
    families = {"alpha": ("a-mem-%",), "gcp": ("no-such-family-%",)}
    monkeypatch.setattr(candidates, "DEFAULT_FAMILIES", families)
    offers = candidates._families_first(scope, OfferFilter(cpus=4.0), ["alpha", "gcp"], limit=8)
    alpha = {o.instance_type for o in offers if o.cloud == "alpha"}
    # the family wins although a-cpu-4 ($0.19) is cheaper than a-mem-8 ($0.50)
    assert alpha == {"a-mem-8"}
    assert any(o.cloud == "gcp" for o in offers)  # no family fits there: every machine
