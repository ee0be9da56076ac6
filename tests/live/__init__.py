"""Live status: bulletins, service status, subscriptions, the public status page, replicas."""
