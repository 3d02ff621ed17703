"""Root conftest: every test in the repository gets the fixtures of ``stix.testing``."""

pytest_plugins = ["stix.testing"]
