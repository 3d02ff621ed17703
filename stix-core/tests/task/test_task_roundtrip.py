"""Property: load -> to_yaml_config -> dump -> load gives an equal object."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from stix.task import Resources, dump_yaml, load_dag, load_task

ident = st.from_regex(r"[a-z][a-z0-9]{0,6}(?:[-_][a-z0-9]{1,4}){0,2}", fullmatch=True)
env_name = st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True)
gpu = st.sampled_from(
    ["V100", "A100", "T4", "H100", "A100-80GB", "tpu-v4-8", "80GB+", "nvidia:48GB+"]
)
count = st.one_of(st.integers(1, 16), st.sampled_from([0.25, 0.5, 1.5]))


def env_text(**kw):
    """Text an environment variable can hold (no NUL byte)."""
    return st.text(alphabet=st.characters(blacklist_characters="\x00"), **kw)


size_unit = st.sampled_from(["", "GB", "MB", "TB", "Gi", "Mi"])


@st.composite
def cpus(draw):
    value = draw(st.one_of(st.integers(1, 128), st.sampled_from([0.5, 1.5, 2.0])))
    return draw(st.sampled_from([value, f"{value}", f"{value}+"]))


@st.composite
def memory(draw):
    number = draw(st.integers(1, 4096))
    form = draw(st.sampled_from(["plain", "unit", "x"]))
    if form == "x":
        return f"{draw(st.integers(1, 8))}x"
    plus = draw(st.sampled_from(["", "+"]))
    if form == "unit":
        return f"{number}{draw(size_unit)}{plus}"
    return number if not plus else f"{number}+"


@st.composite
def accelerators(draw):
    name, n = draw(gpu), draw(count)
    return draw(st.sampled_from([name, f"{name}:{n}", {name: n}]))


def infra():
    clouds = st.sampled_from(["aws", "GCP", "azure", "k8s", "lambda", "*"])
    return st.one_of(
        clouds,
        st.tuples(clouds, st.sampled_from(["us-east-1", "*", "eu-west1"])).map("/".join),
        st.tuples(
            st.sampled_from(["aws", "gcp"]), st.sampled_from(["us-east-1", "*"]), st.just("zone-a")
        ).map("/".join),
        st.just("kubernetes/ctx/with/slash"),
        st.just("ssh/pool1"),
    )


def ports():
    single = st.integers(1, 65535)
    rng = st.tuples(st.integers(1, 60000), st.integers(0, 50)).map(
        lambda t: f"{t[0]}-{t[0] + t[1]}"
    )
    return st.one_of(single, rng, st.lists(st.one_of(single, rng), min_size=1, max_size=4))


resource_fields = {
    "infra": infra(),
    "instance_type": st.sampled_from(["m5.large", "n1-standard-8", "p3.2xlarge"]),
    "cpus": cpus(),
    "memory": memory(),
    "accelerators": accelerators(),
    "use_spot": st.booleans(),
    "job_recovery": st.one_of(
        st.sampled_from(["failover", "EAGER_NEXT_REGION", "none"]),
        st.fixed_dictionaries(
            {},
            optional={"strategy": st.just("failover"), "max_restarts_on_errors": st.integers(0, 5)},
        ),
    ),
    "disk_size": st.one_of(st.integers(1, 4096), st.integers(1, 8).map(lambda n: f"{n}TB")),
    "disk_tier": st.sampled_from(["low", "medium", "HIGH", "best"]),
    "network_tier": st.sampled_from(["standard", "best"]),
    "local_disk": st.sampled_from(["nvme", "ssd:500+", "1TB"]),
    "max_hourly_cost": st.floats(0.01, 100, allow_nan=False),
    "ports": ports(),
    "image_id": st.one_of(
        st.just("docker:ubuntu:22.04"), st.just({"us-east-1": "ami-1", "us-west-2": "ami-2"})
    ),
    "labels": st.dictionaries(ident, st.one_of(ident, st.integers(0, 9)), max_size=3),
    "autostop": st.one_of(
        st.booleans(),
        st.integers(0, 600),
        st.sampled_from(["30m", "2h", "1d"]),
        st.fixed_dictionaries({"idle_minutes": st.integers(1, 99), "down": st.booleans()}),
    ),
    "priority": st.integers(-1000, 1000),
}
single_resources = st.fixed_dictionaries({}, optional=resource_fields)


@settings(max_examples=150, deadline=None)
@given(single_resources)
def test_resources_round_trip(raw):
    first = Resources.from_yaml_config(raw)
    again = Resources.from_yaml_config(first.to_yaml_config())
    assert again == first and hash(again) == hash(first)
    assert again.to_yaml_config() == first.to_yaml_config()


@st.composite
def task_resources(draw):
    base = draw(
        st.fixed_dictionaries(
            {}, optional={k: resource_fields[k] for k in ("cpus", "memory", "labels", "use_spot")}
        )
    )
    kind = draw(st.sampled_from(["plain", "any_of", "ordered", "set", "list"]))
    partial = st.fixed_dictionaries(
        {}, optional={k: resource_fields[k] for k in ("infra", "accelerators", "labels", "cpus")}
    )
    if kind in ("any_of", "ordered"):
        base[kind] = draw(st.lists(partial, min_size=1, max_size=3))
    elif kind == "set":
        base["accelerators"] = {
            g: None for g in draw(st.lists(gpu, min_size=2, max_size=3, unique=True))
        }
    elif kind == "list":
        base["accelerators"] = draw(st.lists(gpu, min_size=1, max_size=3, unique=True))
    return base


@st.composite
def tasks(draw):
    raw = draw(
        st.fixed_dictionaries(
            {"run": st.text(max_size=30)},
            optional={
                "name": ident,
                "workdir": st.one_of(
                    st.just("."), st.just({"url": "https://g/x.git", "ref": "main"})
                ),
                "num_nodes": st.integers(1, 8),
                "resources": task_resources(),
                "envs": st.dictionaries(
                    env_name,
                    st.one_of(env_text(max_size=10), st.integers(), st.booleans()),
                    max_size=3,
                ),
                "secrets": st.dictionaries(
                    env_name, st.one_of(env_text(min_size=1, max_size=10), st.none()), max_size=2
                ),
                "setup": st.lists(st.text(max_size=10), max_size=3),
                "file_mounts": st.dictionaries(
                    st.from_regex(r"/[a-z]{1,6}", fullmatch=True),
                    st.one_of(
                        st.just("s3://bucket/path"),
                        st.fixed_dictionaries(
                            {"name": ident},
                            optional={
                                "mode": st.sampled_from(["MOUNT", "copy", "MOUNT_CACHED"]),
                                "persistent": st.booleans(),
                                "store": st.sampled_from(["s3", "GCS"]),
                            },
                        ),
                    ),
                    max_size=2,
                ),
                "service": st.fixed_dictionaries(
                    {
                        "readiness_probe": st.one_of(
                            st.just("/"),
                            st.fixed_dictionaries(
                                {
                                    "path": st.just("/h"),
                                    "initial_delay_seconds": st.integers(0, 999),
                                }
                            ),
                        )
                    },
                    optional={
                        "replicas": st.integers(0, 4),
                        "load_balancing_policy": st.sampled_from(["round_robin", "least_load"]),
                    },
                ),
                "config": st.just(
                    {"kubernetes": {"pod_config": {"a": 1}}, "hooks": [{"run": "echo"}]}
                ),
            },
        )
    )
    return raw


@settings(max_examples=100, deadline=None)
@given(tasks())
def test_task_round_trip(raw):
    first = load_task(raw)
    dumped = first.to_yaml_config(reveal_secrets=True)
    again = load_task(dump_yaml(dumped))
    assert again == first
    assert again.to_yaml_config(reveal_secrets=True) == dumped


@settings(max_examples=30, deadline=None)
@given(st.lists(tasks(), min_size=2, max_size=3), st.one_of(st.none(), ident))
def test_pipeline_round_trip(raws, name):
    docs = ([{"name": name}] if name else []) + [dict(r, name=f"t{i}") for i, r in enumerate(raws)]
    for doc in docs[1 if name else 0 :]:
        doc.pop("service", None)
    dag = load_dag(dump_yaml(docs))
    assert load_dag(dump_yaml(dag.to_yaml_config(reveal_secrets=True))) == dag
