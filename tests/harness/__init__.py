"""Test harness of real SSH nodes (network namespaces + sshd); see :mod:`harness.sshnodes`."""
