"""Task-level fields: envs, secrets, overrides, substitution, file mounts, service, pool, config."""

from __future__ import annotations

import textwrap

import pytest
from stix.errors import TaskError
from stix.task import ServiceSpec, Storage, Task, load_task


def task(text: str, **kw):
    return load_task(textwrap.dedent(text), **kw)


def error(text: str, **kw) -> TaskError:
    with pytest.raises(TaskError) as info:
        load_task(textwrap.dedent(text), **kw)
    return info.value


def test_minimal_task_defaults():
    t = task("run: echo hi\n")
    assert t == Task(run="echo hi")
    assert t.num_nodes == 1 and len(t.resources) == 1 and t.to_yaml_config() == {"run": "echo hi"}


def test_scripts_as_lists_are_joined():
    t = task("setup: [pip install x, echo done]\nrun:\n  - a\n  - b\n")
    assert t.setup == "pip install x\necho done" and t.run == "a\nb"


def test_envs_coerced_and_null_needs_override(monkeypatch):
    t = task("envs:\n  N: 3\n  F: 1.5\n  B: true\n  S: x\n")
    assert t.envs == {"N": "3", "F": "1.5", "B": "true", "S": "x"}
    exc = error("envs:\n  A: 1\n  HF_TOKEN:\n")
    assert (exc.path, exc.line) == ("envs.HF_TOKEN", 3) and "--env HF_TOKEN" in (exc.hint or "")
    assert task("envs:\n  HF_TOKEN:\n", env_overrides={"HF_TOKEN": "t"}).envs == {"HF_TOKEN": "t"}
    monkeypatch.setenv("HF_TOKEN", "from-env")
    assert (
        task("envs:\n  HF_TOKEN:\n", env_overrides={"HF_TOKEN": None}).envs["HF_TOKEN"]
        == "from-env"
    )
    monkeypatch.delenv("HF_TOKEN")
    assert "not set locally" in error("run: x\n", env_overrides={"HF_TOKEN": None}).reason


def test_env_name_rules():
    exc = error("envs:\n  1BAD: x\n")
    assert exc.path == "envs.1BAD" and exc.line == 2


def test_secrets_forms_and_redaction():
    t = task(
        """
        secrets:
          API_KEY: abc123
          HF_TOKEN:
          secrets:WANDB_KEY: null
        """,
        secret_overrides={"HF_TOKEN": "hf"},
    )
    assert t.secrets == {"API_KEY": "abc123", "HF_TOKEN": "hf", "WANDB_KEY": None}
    assert "abc123" not in repr(t) and "<redacted>" in repr(t)
    dumped = t.to_yaml_config()["secrets"]
    assert dumped == {"API_KEY": "<redacted>", "HF_TOKEN": "<redacted>", "WANDB_KEY": None}
    assert t.to_yaml_config(reveal_secrets=True)["secrets"]["API_KEY"] == "abc123"
    listed = task("secrets:\n  - secrets:A\n  - secrets:workspace.B\n")
    assert listed.secrets == {"A": None, "workspace.B": None}
    exc = error("secrets:\n  secrets:A: value\n")
    assert exc.path == "secrets.secrets:A" and exc.line == 2
    assert error("secrets:\n  - A\n").path == "secrets[0]"


def test_substitution_in_file_mounts_service_workdir_volumes():
    t = task(
        """
        envs:
          ROOT: /data
          BUCKET: my-bucket
          STORE: s3
        secrets:
          TOKEN: tok
        workdir: ~/code/$BUCKET
        file_mounts:
          ${ROOT}:
            name: ${BUCKET}-x
            store: $STORE
          /other: s3://$BUCKET/$UNKNOWN
        volumes:
          /mnt/$BUCKET: vol-${BUCKET}
        service:
          readiness_probe:
            path: /health
            headers:
              Authorization: Bearer $TOKEN
          replicas: 1
        run: echo $BUCKET
        """
    )
    assert t.workdir == "~/code/my-bucket"
    assert t.file_mounts == {
        "/data": Storage(name="my-bucket-x", store="s3"),
        "/other": "s3://my-bucket/$UNKNOWN",
    }
    assert t.volumes == {"/mnt/my-bucket": "vol-my-bucket"}
    assert t.service is not None and t.service.readiness_probe.headers == {
        "Authorization": "Bearer tok"
    }
    assert t.run == "echo $BUCKET"


def test_overrides_apply_before_substitution():
    t = task("envs:\n  B: a\nfile_mounts:\n  /x: s3://$B\n", env_overrides={"B": "b"})
    assert t.file_mounts == {"/x": "s3://b"}


def test_storage_forms():
    t = task(
        """
        file_mounts:
          /ckpt:
            name: ckpt
            store: GCS
            mode: mount_cached
            persistent: false
          /multi:
            source: [./a, ./b]
          /vol:
            store: volume
            name: v1
            config: {disk_size: 100}
        """
    )
    assert t.file_mounts is not None
    ckpt = t.file_mounts["/ckpt"]
    assert ckpt == Storage(name="ckpt", store="gcs", mode="MOUNT_CACHED", persistent=False)
    assert isinstance(t.file_mounts["/multi"], Storage) and t.file_mounts["/multi"].source == (
        "./a",
        "./b",
    )
    vol = t.file_mounts["/vol"]
    assert isinstance(vol, Storage) and vol.is_volume


@pytest.mark.parametrize(
    ("text", "path", "line", "words"),
    [
        (
            "file_mounts:\n  /data:\n    name: x\n    mode: FAST\n",
            "file_mounts./data.mode",
            4,
            "invalid mode",
        ),
        ("file_mounts:\n  /data:\n    nme: x\n", "file_mounts./data.nme", 3, "did you mean 'name'"),
        ("file_mounts:\n  /data/: ./x\n", "file_mounts./data/", 2, "must not end"),
        ("file_mounts:\n  s3://b: ./x\n", "file_mounts.s3://b", 2, "not a URL"),
        ("file_mounts:\n  /data:\n", "file_mounts./data", 2, "no source"),
        (
            "file_mounts:\n  /data:\n    store: dropbox\n",
            "file_mounts./data.store",
            3,
            "invalid store",
        ),
        ("volumes:\n  mnt: v\n", "volumes.mnt", 2, "absolute"),
        ("name: -bad-\n", "name", 1, "invalid name"),
        ("num_nodes: 0\n", "num_nodes", 1, ">= 1"),
        ("run: {a: 1}\n", "run", 1, "shell script"),
        ("workdir:\n  ref: main\n", "workdir.url", 1, "url"),
        ("inputs:\n  a: 1\n  b: 2\n", "inputs", 1, "exactly one"),
        ("api_server_access: yes please\n", "api_server_access", 1, "true or false"),
        ("nmae: x\n", "nmae", 1, "did you mean 'name'"),
    ],
)
def test_task_field_errors(text, path, line, words):
    exc = error(text)
    assert (exc.path, exc.line) == (path, line)
    assert words in exc.reason


def test_git_workdir():
    t = task("workdir:\n  url: https://github.com/x/y\n  ref: main\n")
    assert t.workdir == {"url": "https://github.com/x/y", "ref": "main"}


def test_service_forms_and_defaults():
    t = task("service:\n  readiness_probe: /health\n  replicas: 2\n")
    assert isinstance(t.service, ServiceSpec)
    assert t.service.readiness_probe.path == "/health"
    assert t.service.readiness_probe.initial_delay_seconds == 1200
    assert t.service.replica_policy.min_replicas == 2
    assert t.to_yaml_config()["service"] == {
        "readiness_probe": {"path": "/health"},
        "replica_policy": {"min_replicas": 2},
    }
    probe = task(
        "service:\n  readiness_probe:\n    path: /v1\n    post_data: '{\"a\": 1}'\n"
    ).service
    assert probe is not None and probe.readiness_probe.post_data == {"a": 1}


@pytest.mark.parametrize(
    ("text", "path", "line", "words"),
    [
        (
            "service:\n  readiness_probe: health\n",
            "service.readiness_probe.path",
            2,
            "start with '/'",
        ),
        (
            "service:\n  replicas: 1\n  replica_policy: {min_replicas: 1}\n",
            "service.replicas",
            2,
            "cannot be combined",
        ),
        (
            "service:\n  replica_policy:\n    min_replicas: 3\n    max_replicas: 2\n    target_qps_per_replica: 1\n",
            "service.replica_policy.max_replicas",
            4,
            ">= min_replicas",
        ),
        (
            "service:\n  replica_policy:\n    min_replicas: 1\n    max_replicas: 3\n",
            "service.replica_policy.max_replicas",
            4,
            "target_qps",
        ),
        (
            "service:\n  replica_policy:\n    min_replicas: 1\n    target_qps_per_replica: 2\n",
            "service.replica_policy.target_qps_per_replica",
            4,
            "requires max_replicas",
        ),
        (
            "service:\n  replica_policy:\n    min_replicas: 1\n    max_replicas: 2\n    target_qps_per_replica: {'A100': 2}\n",
            "service.replica_policy.target_qps_per_replica",
            5,
            "instance_aware_least_load",
        ),
        (
            "service:\n  replicas: 1\n  load_balancing_policy: random\n",
            "service.load_balancing_policy",
            3,
            "invalid policy",
        ),
        ("service:\n  tls: {keyfile: k}\n", "service.tls.certfile", 2, "certfile"),
        (
            "service:\n  replicas: 1\n  replica_polcy: {}\n",
            "service.replica_polcy",
            3,
            "did you mean 'replica_policy'",
        ),
        (
            "service:\n  replica_policy:\n    min_replicas: 1\n    base_ondemand_fallback_replicas: 1\n",
            "service.replica_policy",
            2,
            "use_spot",
        ),
        (
            "resources:\n  job_recovery: failover\nservice:\n  replicas: 1\n",
            "resources.job_recovery",
            2,
            "not allowed",
        ),
        ("service:\n  replicas: 1\npool:\n  workers: 1\n", "pool", 3, "both"),
    ],
)
def test_service_errors(text, path, line, words):
    exc = error(text)
    assert (exc.path, exc.line) == (path, line)
    assert words in exc.reason


def test_pool_forms_and_errors():
    t = task("pool:\n  workers: 3\nrun: echo\n")
    assert t.pool is not None and t.pool.workers == 3
    exc = error("pool:\n  workers: 3\n  max_workers: 4\n")
    assert (exc.path, exc.line) == ("pool.workers", 2)
    assert error("pool:\n  min_workers: 4\n  max_workers: 2\n").path == "pool.max_workers"


def test_config_block_and_hooks():
    t = task(
        """
        config:
          kubernetes:
            pod_config: {spec: {}}
          hooks:
            - run: echo bye
              events: [down]
            - run: echo stop
        """
    )
    assert t.config is not None
    assert t.config["hooks"] == [
        {"run": "echo bye", "events": ["down"], "timeout": 3600},
        {"run": "echo stop", "events": ["stop", "preemption", "down"], "timeout": 3600},
    ]
    exc = error("config:\n  kubernetes:\n    pod_confg: {}\n")
    assert (exc.path, exc.line) == ("config.kubernetes.pod_confg", 3)
    assert "did you mean 'pod_config'" in exc.reason
    exc = error("config:\n  jobs:\n    bucket: x\n")
    assert exc.path == "config.jobs"
    exc = error("config:\n  hooks:\n    - run: x\n      events: [reboot]\n")
    assert (exc.path, exc.line) == ("config.hooks[0].events", 4)
    exc = error("config:\n  hooks:\n" + "    - run: x\n" * 33)
    assert "at most 32" in exc.reason
    assert "16 KiB" in error("config:\n  hooks:\n    - run: '" + "x" * 17000 + "'\n").reason


def test_managed_secrets_forms():
    assert task("managed_secrets: [A, B]\n").managed_secrets == {"A": None, "B": None}
    t = task("managed_secrets:\n  KEY:\n    mount_path: /etc/key\n")
    assert t.managed_secrets == {"KEY": "/etc/key"}


def test_internal_keys_accepted():
    t = task(
        "_metadata: {git_commit: abc}\nfile_mounts_mapping: {a: b}\nvolume_mounts: []\nresources:\n  _requires_fuse: true\n"
    )
    assert t.metadata == {"git_commit": "abc"} and t.resources[0].internal == {
        "_requires_fuse": True
    }
    assert load_task(t.to_yaml_config()) == t


def test_workdir_destination_is_reserved():
    exc = error("workdir: .\nfile_mounts:\n  ~/sky_workdir: ./x\n")
    assert (exc.path, exc.line) == ("file_mounts.~/sky_workdir", 3)
    assert task("file_mounts:\n  ~/sky_workdir: ./x\n").file_mounts == {"~/sky_workdir": "./x"}


def test_service_may_mix_spot_and_on_demand_candidates():
    # SkyPilot loads such services (spot first, on-demand as a fallback); serving decides.
    t = task(
        "resources:\n  any_of:\n    - {use_spot: true}\n    - {use_spot: false}\n"
        "service:\n  replicas: 2\n"
    )
    assert {bool(r.use_spot) for r in t.resources} == {True, False}
    assert t.service is not None and t.service.replica_policy.min_replicas == 2
    fallback = task(
        "resources:\n  any_of:\n    - {use_spot: true}\n    - {use_spot: false}\n"
        "service:\n  replica_policy:\n    min_replicas: 1\n    base_ondemand_fallback_replicas: 1\n"
    )
    assert fallback.service is not None
