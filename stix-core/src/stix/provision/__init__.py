"""Provisioning shared by every cloud: one attempt, the failover loop, and state reconciliation."""
