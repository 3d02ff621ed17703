"""The core's cloud contract suite, run against the aws plugin."""

from __future__ import annotations

from stix.testing.contract import CloudContract


class TestAwsContract(CloudContract):
    cloud_name = "aws"
    entry_module = "stix_aws.hooks"
    sdk_modules = ("boto3", "botocore", "s3transfer")


def test_registering_everything_imports_no_sdk() -> None:
    """``stix plugins`` and ``stix --help`` call every registration hook: still no boto3.

    ``stix storage`` is the core's command (over every store), so the plugin adds no CLI.
    """
    import json
    import subprocess
    import sys

    code = (
        "import json, sys, click\n"
        "from stix_aws import hooks\n"
        "made = []\n"
        "for hook in (hooks.register_clouds, hooks.register_catalogs, hooks.register_provisioners,"
        " hooks.register_stores):\n"
        "    hook(register=made.append)\n"
        "print(json.dumps({'made': [m.name for m in made], 'commands': hasattr(hooks, 'register_commands'),"
        " 'modules': sorted(sys.modules)}))\n"
    )
    out = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )
    assert out["made"] == ["aws", "aws", "aws", "s3"]
    assert out["commands"] is False
    loaded = {name.split(".")[0] for name in out["modules"]}
    assert not loaded & {"boto3", "botocore", "s3transfer"}
