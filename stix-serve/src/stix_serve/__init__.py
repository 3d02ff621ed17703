"""Services for STIX: replicas behind a streaming load balancer."""
