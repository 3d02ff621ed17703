"""The hostile-input corpus: bad task YAMLs, configs and CLI arguments.

Every case must end with exit code 1 (or 2 for a usage error), one ``Error:`` line that
names the field or argument (plus at most one ``Hint:`` line), and never a traceback or
an "unexpected" error. Add a case here for every bad input found; keep each cheap.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

# A "billion laughs": ten levels of ten aliases each, under `config`.
_LAUGHS = (
    "run: echo\nconfig:\n  kubernetes:\n    pod_config:\n      a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"      a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10))
)


def _task(body: str) -> dict[str, str]:
    return {"t.yaml": body}


# (id, argv, files, words that must appear in the Error line, exit code)
CASES: list[tuple[str, list[str], dict[str, Any], tuple[str, ...], int]] = [
    # -- sizes (item 3)
    ("num-nodes-huge", ["validate", "t.yaml"], _task("num_nodes: 100000000\n"), ("num_nodes", "at most"), 1),
    ("num-nodes-huge-launch", ["launch", "--dryrun", "t.yaml"], _task("num_nodes: 100000000\nrun: echo\n"), ("num_nodes",), 1),
    ("num-nodes-zero", ["validate", "t.yaml"], _task("num_nodes: 0\n"), ("num_nodes",), 1),
    ("num-nodes-float", ["validate", "t.yaml"], _task("num_nodes: 1.5\n"), ("num_nodes",), 1),
    ("num-nodes-text", ["validate", "t.yaml"], _task("num_nodes: many\n"), ("num_nodes",), 1),
    ("num-nodes-flag", ["launch", "--dryrun", "--num-nodes", "100000000", "echo"], {}, ("num_nodes",), 1),
    ("num-nodes-over-local", ["launch", "--dryrun", "--infra", "local", "--num-nodes", "5000", "echo"], {}, ("local.max_nodes",), 1),
    ("disk-huge", ["validate", "t.yaml"], _task("resources:\n  disk_size: 100000000\n"), ("resources.disk_size", "64 TiB"), 1),
    ("disk-zero", ["validate", "t.yaml"], _task("resources:\n  disk_size: 0\n"), ("resources.disk_size",), 1),
    ("disk-negative", ["validate", "t.yaml"], _task("resources:\n  disk_size: -5\n"), ("resources.disk_size",), 1),
    ("disk-flag", ["launch", "--dryrun", "--disk-size", "99999999999999999999", "echo"], {}, ("disk_size",), 1),
    ("gpu-abc", ["launch", "--dryrun", "--gpus", "A100:abc", "echo"], {}, ("accelerators", "abc"), 1),
    ("gpu-nan", ["launch", "--dryrun", "--gpus", "A100:nan", "echo"], {}, ("accelerators", "nan"), 1),
    ("gpu-inf", ["launch", "--dryrun", "--gpus", "A100:inf", "echo"], {}, ("accelerators", "inf"), 1),
    ("gpu-zero", ["launch", "--dryrun", "--gpus", "A100:0", "echo"], {}, ("accelerators",), 1),
    ("gpu-huge", ["validate", "t.yaml"], _task("resources:\n  accelerators: A100:99999999999\n"), ("resources.accelerators",), 1),
    ("gpu-dict-nan", ["validate", "t.yaml"], _task("resources:\n  accelerators: {A100: .nan}\n"), ("resources.accelerators",), 1),
    ("cpus-nan", ["validate", "t.yaml"], _task("resources:\n  cpus: .nan\n"), ("resources.cpus",), 1),
    ("cpus-inf", ["launch", "--dryrun", "--cpus", "inf", "echo"], {}, ("cpus",), 1),
    ("cpus-digits", ["validate", "t.yaml"], _task("resources:\n  cpus: " + "9" * 400 + "\n"), ("resources.cpus",), 1),
    ("memory-nan-ratio", ["validate", "t.yaml"], _task("resources:\n  memory: nanx\n"), ("resources.memory",), 1),
    ("memory-inf", ["launch", "--dryrun", "--memory", "inf", "echo"], {}, ("memory",), 1),
    ("ports-digits", ["launch", "--dryrun", "--ports", "9" * 5000, "echo"], {}, ("resources.ports", "outside"), 1),
    ("ports-range-digits", ["validate", "t.yaml"], _task(f"resources:\n  ports: 1-{'9' * 5000}\n"), ("resources.ports",), 1),
    ("autostop-digits", ["validate", "t.yaml"], _task(f"resources:\n  autostop: {'9' * 900}m\n"), ("resources.autostop",), 1),
    ("autostop-huge", ["validate", "t.yaml"], _task("resources:\n  autostop: 99999999999\n"), ("resources.autostop", "ten years"), 1),
    ("priority-range", ["launch", "--dryrun", "--priority", "5000", "echo"], {}, ("--priority",), 1),
    ("priority-junk", ["launch", "--dryrun", "--priority", "a b", "echo"], {}, ("--priority",), 1),
    ("priority-yaml", ["validate", "t.yaml"], _task("resources:\n  priority: 5000\n"), ("resources.priority",), 1),
    ("idle-nan", ["launch", "--dryrun", "-i", "nan", "echo"], {}, ("-i",), 2),
    ("idle-inf", ["launch", "--dryrun", "-i", "inf", "echo"], {}, ("-i",), 2),
    ("idle-negative", ["autostop", "-i", "-1", "nosuch"], {}, ("--idle-minutes",), 2),
    ("task-name-long", ["validate", "t.yaml"], _task(f"name: {'a' * 300}\n"), ("name", "256"), 1),
    ("task-name-flag", ["launch", "--dryrun", "-n", "a" * 300, "echo"], {}, ("name", "256"), 1),
    ("cluster-name-long", ["launch", "--dryrun", "-c", "a" * 80, "echo"], {}, ("cluster name", "63"), 1),
    ("cluster-name-bad", ["launch", "--dryrun", "-c", "bad name", "echo"], {}, ("cluster name",), 1),
    ("env-nul", ["validate", "t.yaml"], _task('envs:\n  A: "x\\0y"\nrun: echo\n'), ("envs.A", "NUL"), 1),
    ("secret-nul", ["validate", "t.yaml"], _task('secrets:\n  A: "x\\0y"\nrun: echo\n'), ("secrets.A", "NUL"), 1),
    ("env-file-nul", ["launch", "--dryrun", "--env-file", "e.env", "echo"], {"e.env": b"A=x\x00y\n"}, ("--env-file", "NUL"), 1),
    # -- unknown names (item 4)
    ("cloud-unknown", ["validate", "t.yaml"], _task("resources:\n  cloud: nocloud\n"), ("resources.cloud", "nocloud"), 1),
    ("cloud-typo", ["launch", "--dryrun", "t.yaml"], _task("resources:\n  cloud: awss\nrun: echo\n"), ("resources.cloud", "did you mean aws"), 1),
    ("infra-slashes", ["validate", "t.yaml"], _task("resources:\n  infra: ////\n"), ("resources.infra",), 1),
    ("infra-flag-typo", ["launch", "--dryrun", "--infra", "awz", "echo"], {}, ("infra", "did you mean aws"), 1),
    ("region-unknown", ["launch", "--dryrun", "t.yaml"], _task("resources:\n  infra: aws/mars-1\nrun: echo\n"), ("resources.infra", "mars-1"), 1),
    ("region-typo", ["launch", "--dryrun", "t.yaml"], _task("resources:\n  infra: aws/us-east1\nrun: echo\n"), ("resources.infra", "us-east1"), 1),
    ("region-unknown-validate", ["validate", "t.yaml"], {**_task("resources:\n  infra: aws/mars-1\n"), "@aws-catalog": ""}, ("resources.infra", "mars-1", "us-east-1"), 1),
    ("region-field-validate", ["validate", "t.yaml"], {**_task("resources:\n  cloud: aws\n  region: mars-1\n"), "@aws-catalog": ""}, ("resources.region", "mars-1"), 1),
    ("region-typo-validate", ["validate", "t.yaml"], {**_task("resources:\n  infra: aws/us-east1\n"), "@aws-catalog": ""}, ("resources.infra", "did you mean us-east-1"), 1),
    ("region-any-of-validate", ["validate", "t.yaml"], {**_task("resources:\n  any_of:\n    - infra: aws/us-east-1\n    - infra: aws/mars-1\n"), "@aws-catalog": ""}, ("resources.any_of[1].infra", "mars-1"), 1),
    ("region-with-infra", ["launch", "--dryrun", "--infra", "aws", "--region", "mars-1", "echo"], {}, ("--region", "--infra"), 1),
    ("allowed-clouds-number", ["launch", "--dryrun", "echo"], {"@config": "allowed_clouds: 5\n"}, ("allowed_clouds",), 1),
    ("allowed-clouds-typo", ["launch", "--dryrun", "echo"], {"@config": "allowed_clouds: [awss]\n"}, ("allowed_clouds", "did you mean aws"), 1),
    ("config-garbage", ["launch", "--dryrun", "--config", "garbage", "echo"], {}, ("--config", "garbage"), 1),
    ("config-flag-value", ["launch", "--dryrun", "--config", "allowed_clouds=5", "echo"], {}, ("allowed_clouds",), 1),
    ("exec-config-garbage", ["exec", "--config", "garbage", "c", "echo"], {}, ("--config", "garbage"), 1),
    ("empty-entrypoint", ["launch", "-y", ""], {}, ("ENTRYPOINT",), 1),
    # -- bounded reading (item 10)
    ("laughs", ["validate", "--json", "t.yaml"], _task(_LAUGHS), ("aliases",), 1),
    ("laughs-config", ["launch", "--dryrun", "echo"], {"@config": _LAUGHS.replace("run: echo\n", "")}, ("aliases",), 1),
    ("alias-cycle", ["validate", "t.yaml"], _task("run: echo\nconfig:\n  kubernetes:\n    pod_config: &x {a: *x}\n"), ("alias",), 1),
    ("too-large", ["validate", "t.yaml"], {"t.yaml": "run: echo\n#" + "x" * 5000 + "\n", "@env": {"STIX_MAX_INPUT_BYTES": "4K"}}, ("t.yaml", "larger than"), 1),
    ("cap-junk", ["validate", "t.yaml"], {"t.yaml": "run: echo\n", "@env": {"STIX_MAX_INPUT_BYTES": "lots"}}, ("STIX_MAX_INPUT_BYTES",), 1),
    # -- no traceback on any input (item 11)
    ("job-id-overflow", ["logs", "c", "99999999999999999999"], {}, ("JOB_IDS",), 2),
    ("cancel-id-overflow", ["cancel", "c", "99999999999999999999"], {}, ("JOB_IDS",), 2),
    ("tail-negative", ["logs", "c", "--tail", "-1"], {}, ("--tail",), 2),
    ("days-nan", ["cost-report", "--days", "nan"], {}, ("--days",), 2),
    ("int-digits", ["validate", "t.yaml"], _task("num_nodes: " + "9" * 5000 + "\n"), ("t.yaml:1", "digits"), 1),
    ("int-digits-env", ["validate", "t.yaml"], _task("envs:\n  A: " + "9" * 5000 + "\n"), ("t.yaml:2", "digits"), 1),
    ("binary-task", ["validate", "t.yaml"], {"t.yaml": bytes(range(256))}, ("t.yaml", "UTF-8"), 1),
    ("binary-env-file", ["launch", "--dryrun", "--env-file", "e.env", "echo"], {"e.env": b"\xff\xfe\x00A=1"}, ("--env-file", "UTF-8"), 1),
    ("binary-config", ["launch", "--dryrun", "echo"], {"@config": b"\xad\xde\xbe\xef"}, ("config.yaml", "UTF-8"), 1),
    ("preempt-abc", ["launch", "--dryrun", "echo"], {"@config": "local:\n  preempt_after_seconds: abc\n"}, ("local.preempt_after_seconds",), 1),
    ("preempt-flag", ["launch", "--dryrun", "--config", "local.preempt_after_seconds=abc", "echo"], {}, ("local.preempt_after_seconds",), 1),
    ("duplicate-key", ["validate", "t.yaml"], _task("run: a\nrun: b\n"), ("t.yaml:2", "duplicate"), 1),
    ("not-a-mapping", ["validate", "t.yaml"], _task("- a\n- b\n"), ("t.yaml",), 1),
]  # fmt: skip


def _write(path: Path, content: str | bytes) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


def check_one_error(exit_code: int, stderr: str, words: tuple[str, ...], code: int) -> None:
    """The corpus' rule: the exit code, one Error line naming the field, no traceback."""
    assert "Traceback" not in stderr, stderr
    assert "unexpected" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert exit_code == code, stderr
    assert 1 <= len(lines) <= 2, stderr
    assert lines[0].startswith("Error: "), stderr
    if len(lines) == 2:
        assert lines[1].startswith("Hint: "), stderr
    for word in words:
        assert word in lines[0], f"{word!r} not named in: {lines[0]}"


AWS_ROWS = (
    "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,"
    "SpotPrice,Region,AvailabilityZone\n"
    "m6i.large,,,2,8,,0.096,0.03,us-east-1,us-east-1a\n"
    "m6i.large,,,2,8,,0.096,0.03,us-west-2,us-west-2a\n"
)


@pytest.mark.parametrize(
    ("argv", "files", "words", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hostile_input_gives_one_line(
    cli, stix_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv, files, words, code
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, content in files.items():
        if name == "@config":
            _write(stix_home / "config.yaml", content)
        elif name == "@aws-catalog":  # an imported catalog: what a pinned region is checked on
            folder = tmp_path / "cat" / "aws"
            folder.mkdir(parents=True)
            _write(folder / "vms.csv", AWS_ROWS)
            assert cli("catalog", "import", "--format", "skypilot", str(folder)).exit_code == 0
        elif name == "@env":
            for key, value in content.items():
                monkeypatch.setenv(key, value)
        else:
            _write(tmp_path / name, content)
    started = time.monotonic()
    result = cli(*argv)
    check_one_error(result.exit_code, result.stderr, words, code)
    assert time.monotonic() - started < 30


# Inputs that used to hang or eat memory run in a child process with a deadline.
SPECIAL: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("dev-zero-task", ["validate", "/dev/zero"], ("/dev/zero", "regular file")),
    ("dev-zero-launch", ["launch", "--dryrun", "/dev/zero"], ("/dev/zero", "regular file")),
    ("fifo-task", ["validate", "{fifo}"], ("FIFO",)),
    ("fifo-launch", ["launch", "--dryrun", "{fifo}"], ("FIFO",)),
    (
        "fifo-env-file",
        ["launch", "--dryrun", "--env-file", "{fifo}", "echo"],
        ("--env-file", "FIFO"),
    ),
    (
        "dev-zero-env-file",
        ["launch", "--dryrun", "--env-file", "/dev/zero", "echo"],
        ("--env-file",),
    ),
    ("fifo-config", ["launch", "--dryrun", "--config", "{fifo}", "echo"], ("FIFO",)),
    (
        "dev-zero-user-config",
        ["@STIX_CONFIG=/dev/zero", "launch", "--dryrun", "echo"],
        ("/dev/zero",),
    ),
]


@pytest.mark.parametrize(("argv", "words"), [c[1:] for c in SPECIAL], ids=[c[0] for c in SPECIAL])
def test_special_files_are_refused_without_blocking(
    stix_home: Path, tmp_path: Path, argv, words
) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    env = dict(os.environ)
    if argv[0].startswith("@"):
        key, _, value = argv[0][1:].partition("=")
        env[key] = value
        argv = argv[1:]
    argv = [a.replace("{fifo}", str(fifo)) for a in argv]
    proc = subprocess.run(
        [sys.executable, "-m", "stix", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,  # a blocked open or an endless read would overrun this
    )
    check_one_error(proc.returncode, proc.stderr, words, 1)


def test_billion_laughs_stays_small(stix_home: Path, tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(_LAUGHS)
    script = (
        "import resource, subprocess, sys;"
        "p = subprocess.run([sys.executable, '-m', 'stix', 'validate', '--json', 't.yaml'],"
        " capture_output=True, text=True);"
        "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    code, peak_kib = map(int, proc.stdout.split())
    assert code == 1
    assert peak_kib < 200 * 1024


def test_a_known_cloud_without_its_plugin_keeps_the_install_hint(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.yaml").write_text("resources:\n  cloud: nebius\nrun: echo\n")
    assert cli("validate", "t.yaml").exit_code == 0  # a SkyPilot cloud is a valid name
    result = cli("launch", "--dryrun", "t.yaml")
    check_one_error(result.exit_code, result.stderr, ("nebius",), 1)
    assert "pip install stix-nebius" in result.stderr


def test_a_cloud_known_only_by_its_imported_catalog_is_a_valid_name(
    cli, stix_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cat" / "mycloud"
    folder.mkdir(parents=True)
    (folder / "vms.csv").write_text(
        "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,"
        "SpotPrice,Region,AvailabilityZone\nm1,,,4,16,,0.1,,r1,r1a\n"
    )
    assert cli("catalog", "import", "--format", "skypilot", str(folder)).exit_code == 0
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.yaml").write_text("resources:\n  infra: mycloud/r1/r1a\nrun: echo\n")
    result = cli("validate", "t.yaml")
    assert result.exit_code == 0, result.stderr
    (tmp_path / "t.yaml").write_text("resources:\n  infra: mycloude/r1\nrun: echo\n")
    result = cli("validate", "t.yaml")
    check_one_error(result.exit_code, result.stderr, ("did you mean mycloud",), 1)
    # and its regions and zones are the ones a task may pin
    (tmp_path / "t.yaml").write_text("resources:\n  infra: mycloud/r1/r1b\n")
    result = cli("validate", "t.yaml")
    check_one_error(result.exit_code, result.stderr, ("resources.infra", "did you mean r1a"), 1)
    (tmp_path / "t.yaml").write_text("resources:\n  cloud: mycloud\n  zone: r1b\n")
    result = cli("validate", "t.yaml")
    check_one_error(result.exit_code, result.stderr, ("resources.zone", "r1b"), 1)


# Loads a task and says whether the catalog was opened for it.
_OPENS_CATALOG = (
    "import sys; from stix.task.loader import load_task; load_task(sys.argv[1]); "
    "print('stix.catalog.query' in sys.modules)"
)


def test_only_a_task_with_a_region_opens_the_catalog(stix_home: Path, tmp_path: Path) -> None:
    opened = {}
    for name, body in (
        ("plain", "resources:\n  infra: aws\n  cpus: 2\n"),
        ("pinned", "resources:\n  infra: aws/us-east-1\n"),
    ):
        path = tmp_path / f"{name}.yaml"
        path.write_text(body + "run: echo\n")
        proc = subprocess.run(
            [sys.executable, "-c", _OPENS_CATALOG, str(path)], capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        opened[name] = proc.stdout.strip()
    assert opened == {"plain": "False", "pinned": "True"}


def test_config_flag_is_applied_to_its_own_run_only(cli) -> None:
    pinned = cli("launch", "--dryrun", "--json", "--config", "allowed_clouds=[aws]", "echo")
    assert pinned.exit_code == 0, pinned.stderr
    assert '"local"' not in pinned.stdout and '"aws"' in pinned.stdout
    free = cli("launch", "--dryrun", "--json", "echo")
    assert free.exit_code == 0, free.stderr
    assert '"local"' in free.stdout
