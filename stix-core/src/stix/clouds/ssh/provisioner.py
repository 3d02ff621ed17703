"""The ``ssh`` provisioner: hands pool hosts to clusters and gives them back clean.

"Creating" a node means allocating a free host of the pool (region = pool name). The
cluster gets its own key pair, authorised on its hosts for its life; ``down`` stops the
agent and every job process the cluster started, removes its files and key, and
returns the hosts to the pool.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from stix.clouds.ssh import allocation
from stix.clouds.ssh.pools import Host, get_pool, load_pools
from stix.errors import ClusterError, StixError
from stix.interfaces import (
    ClusterInfo,
    InstanceInfo,
    ProvisionConfig,
    Provisioner,
    ProvisionRecord,
)

# Run on each node by ``down`` (argv: user cluster name, cluster name on cloud, the
# head's connection folder name, the text of stix/agent/reaper.py): stops the agent, every
# rank's reaper with its whole tree (what escaped with setsid and a cleared environment
# re-parented there), every other job process and the head's
# reused connections to workers, and removes what the cluster put there: its folders in
# the home and every path a file mount created (listed in ~/.stix_agent/created_paths).
_CLEANUP = r"""
import glob, os, shutil, signal, subprocess, sys
cluster, cno = sys.argv[1], sys.argv[2]
home = os.path.expanduser("~")
agent = os.path.join(home, ".stix_agent")
for pyz in sorted(glob.glob(os.path.join(agent, "agent-*.pyz")))[-1:]:
    try:
        subprocess.run([sys.executable, "-S", pyz, "shutdown"], capture_output=True, timeout=60)
    except Exception:
        pass
try:  # every rank reaper (by its file or its argv) and all its descendants
    reapers = os.path.join(agent, "reapers")
    subprocess.run([sys.executable, "-S", "-c", sys.argv[4], "sweep", reapers], timeout=60)
except Exception:
    pass
try:  # the node's cgroup (stix.agent.contain): whatever left its group or environment
    import hashlib, time
    mount = [ln.split()[1] for ln in open("/proc/mounts") if ln.split()[2:3] == ["cgroup2"]][0]
    node_id = hashlib.sha1(("home:" + home).encode()).hexdigest()[:16]
    group = os.path.join(mount, "stix", "n-" + node_id)
    for _ in range(100):
        found = []
        for folder, _dirs, _files in os.walk(group):
            found += open(os.path.join(folder, "cgroup.procs")).read().split()
        if not found:
            break
        for pid in found:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)
    for folder, _dirs, _files in sorted(os.walk(group), key=lambda w: -len(w[0])):
        os.rmdir(folder)
except (OSError, IndexError):
    pass
sessions = set()  # every rank starts as a session leader; what stayed in it goes too
for path in glob.glob(os.path.join(agent, "pids", "*")):
    try:
        sessions.add(int(open(path).read().strip()))
        os.killpg(int(open(path).read().strip()), signal.SIGKILL)
    except (OSError, ValueError):
        pass
tag, me, uid = ("_%s_" % cluster).encode(), os.getpid(), os.getuid()
mux = sys.argv[3].encode()
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if int(pid) == me or os.stat("/proc/" + pid).st_uid != uid:
            continue
        env = open("/proc/%s/environ" % pid, "rb").read().split(b"\0")
        cmdline = open("/proc/%s/cmdline" % pid, "rb").read()
        sid = int(open("/proc/%s/stat" % pid).read().rsplit(")", 1)[-1].split()[4])
    except (OSError, ValueError, IndexError):
        continue
    master = cmdline.startswith(b"ssh") and mux in cmdline  # "ssh: <socket> [mux]"
    if master or sid in sessions or any(e.startswith(b"SKYPILOT_TASK_ID=") and tag in e for e in env):
        try:
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
try:  # paths that file mounts created (never ones that existed before)
    created = open(os.path.join(agent, "created_paths"), "rb").read().split(b"\0")
except OSError:
    created = []
for raw in created:
    path = os.fsdecode(raw)
    if os.path.isabs(path) and os.path.normpath(path) not in ("/", home):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass
for name in (agent, "sky_workdir", "sky_logs", os.path.join(".stix_cluster", cno),
             os.path.join(".stix_cluster", sys.argv[3])):
    shutil.rmtree(os.path.join(home, name), ignore_errors=True)
try:
    os.rmdir(os.path.join(home, ".stix_cluster"))
except OSError:
    pass
"""


# Seconds to wait for a host's login and answer in ``query_instances``.
_PROBE_S = 3.0


def _hosts_of(cluster_name_on_cloud: str) -> tuple[dict[str, Any], list[Host]]:
    record = allocation.allocation(cluster_name_on_cloud)
    if record is None:
        return {}, []
    pool = load_pools().get(record["pool"])
    by_key = {allocation.key(h): h for h in (pool.hosts if pool else ())}
    missing = [k for k in record["hosts"] if k not in by_key]
    if missing:
        raise ClusterError(
            f"ssh: host {missing[0]} of cluster {record['cluster']} is no longer in "
            f"pool {record['pool']}",
            hint="put it back in ssh_node_pools.yaml to tear the cluster down cleanly",
        )
    return record, [by_key[k] for k in record["hosts"]]


def host_fits(host: Host, resources: Any, capacities: dict[str, Any]) -> bool:
    """Whether ``host`` (declared, or probed as recorded in ``capacities``) serves ``resources``."""
    if resources is None:
        return True
    cap = capacities.get(allocation.key(host)) or {}
    acc = resources.accelerator()
    name = host.accelerator or cap.get("accelerator")
    count = host.accelerator_count or cap.get("count") or 0
    if acc is not None and ((name or "").lower() != acc[0].lower() or count < acc[1]):
        return False
    cpus = resources.cpus_request()
    if cpus and cap.get("cpus") and cpus[0] > float(cap["cpus"]):
        return False
    memory = resources.memory_request()
    return not (memory and cap.get("memory_gib") and memory[0] > float(cap["memory_gib"]))


class SshProvisioner(Provisioner):
    """Allocates pool hosts (``region`` is the pool's name)."""

    name: ClassVar[str] = "ssh"

    def run_instances(self, config: ProvisionConfig) -> ProvisionRecord:
        pool = get_pool(config.region)
        hosts = allocation.allocate(
            pool,
            config.cluster_name_on_cloud,
            config.cluster_name,
            config.count,
            fits=lambda h, caps: host_fits(h, config.resources, caps),
        )
        ids = tuple(allocation.key(h) for h in hosts)
        return ProvisionRecord(
            cloud="ssh",
            region=pool.name,
            zone=None,
            cluster_name_on_cloud=config.cluster_name_on_cloud,
            head_instance_id=ids[0],
            created_instance_ids=ids,
        )

    def wait_instances(self, cluster_name_on_cloud: str, region: str | None, state: str) -> None:
        if state != "UP":
            return
        from stix.clouds.ssh.probe import host_runner
        from stix.runner.base import run_parallel

        _, hosts = _hosts_of(cluster_name_on_cloud)

        def reach(host: Host) -> None:
            runner = host_runner(host, cluster=cluster_name_on_cloud, boot_timeout=20)
            runner.check_call("true", timeout=30)

        run_parallel(reach, hosts)

    def get_cluster_info(self, cluster_name_on_cloud: str, region: str | None) -> ClusterInfo:
        record, hosts = _hosts_of(cluster_name_on_cloud)
        if not hosts:
            raise ClusterError(f"ssh: cluster {cluster_name_on_cloud} holds no pool hosts")
        return ClusterInfo(
            cloud="ssh",
            region=record["pool"],
            zone=None,
            instances=tuple(
                InstanceInfo(
                    instance_id=allocation.key(h),
                    internal_ip=h.ip,
                    ssh_port=h.port,
                    tags={"user": h.user},
                )
                for h in hosts
            ),
            ssh_user=hosts[0].user,
            provider_config={
                "cluster_name": record["cluster"],
                "cluster_name_on_cloud": cluster_name_on_cloud,
                "pool": record["pool"],
            },
        )

    def get_command_runners(self, info: ClusterInfo) -> list[Any]:
        """Runners for the cluster's hosts; also authorises the cluster key on them."""
        from stix.clouds.ssh.probe import host_runner
        from stix.runner.base import run_parallel
        from stix.runner.ssh import node_names
        from stix.runner.ssh_keys import (
            authorize,
            cluster_key,
            cluster_public_key,
            install_head_access,
            known_hosts_file,
        )

        cno = str(info.provider_config["cluster_name_on_cloud"])
        cluster = str(info.provider_config["cluster_name"])
        _, hosts = _hosts_of(cno)
        known = str(known_hosts_file(cno))
        runners = [
            host_runner(h, cluster=cno, name=name, known_hosts=known, is_head=i == 0)
            for i, (h, name) in enumerate(zip(hosts, node_names(cluster, len(hosts)), strict=True))
        ]
        public = cluster_public_key(cno)
        run_parallel(lambda r: authorize(r, public, cno), runners)
        if len(runners) > 1:
            install_head_access(runners, cluster_key(cno))
        return runners  # the core writes the ssh config entries (stix.sshconfig)

    def list_clusters(self) -> list[dict[str, Any]]:
        """Every cluster holding hosts of a pool (from the pool allocation file)."""
        with allocation.locked_state(write=False) as state:
            return [
                {
                    "cluster_name": a.get("cluster"),
                    "cluster_name_on_cloud": cno,
                    "region": a["pool"],
                }
                for cno, a in sorted(state["allocations"].items())
            ]

    def query_instances(
        self, cluster_name_on_cloud: str, region: str | None
    ) -> dict[str, str | None]:
        """Every host is ``UP`` when it answers a quick login, else ``INIT`` (never ``None``).

        Hosts are probed at once with short timeouts so ``status --refresh`` stays fast; an
        unreachable host is not reported gone, since the machine still belongs to the cluster.
        """
        from stix.clouds.ssh.probe import host_runner
        from stix.runner.base import run_parallel
        from stix.runner.ssh_keys import known_hosts_file

        _, hosts = _hosts_of(cluster_name_on_cloud)
        known = str(known_hosts_file(cluster_name_on_cloud))

        def state(host: Host) -> str:
            runner = host_runner(
                host, cluster=cluster_name_on_cloud, known_hosts=known, connect_timeout=_PROBE_S
            )
            try:
                return "UP" if runner.run("true", timeout=_PROBE_S).ok else "INIT"
            except StixError:
                return "INIT"

        return dict(
            zip([allocation.key(h) for h in hosts], run_parallel(state, hosts), strict=True)
        )

    def stop_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        raise StixError("ssh: pool machines cannot be stopped; use `stix down` to release them")

    def terminate_instances(self, cluster_name_on_cloud: str, region: str | None) -> None:
        from stix import sshconfig
        from stix.agent.nodes import reaper_source
        from stix.clouds.ssh.probe import host_runner
        from stix.runner.base import run_parallel
        from stix.runner.ssh import mux_dir
        from stix.runner.ssh_keys import remove_cluster_files, revoke

        record, hosts = _hosts_of(cluster_name_on_cloud)
        if not record:
            remove_cluster_files(cluster_name_on_cloud)
            return
        cluster = record["cluster"]
        reaper = reaper_source()

        def clean(host: Host) -> str | None:
            runner = host_runner(host, cluster=cluster_name_on_cloud, connect_timeout=10)
            try:
                mux = mux_dir(cluster_name_on_cloud).rsplit("/", 1)[1]
                argv = ["python3", "-c", _CLEANUP, cluster, cluster_name_on_cloud, mux, reaper]
                runner.check_call(argv, timeout=120)
                revoke(runner, cluster_name_on_cloud)
            except StixError as exc:
                return exc.message
            return None

        problems = [p for p in run_parallel(clean, hosts) if p]
        for problem in problems:
            print(f"Warning: {problem}; the host was returned to its pool anyway", file=sys.stderr)
        sshconfig.remove_cluster(cluster)
        remove_cluster_files(cluster_name_on_cloud)
        allocation.release(cluster_name_on_cloud)
