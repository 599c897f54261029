"""A shop of three Minos services (order, stock, payment) that the deployment example runs as separate processes."""
