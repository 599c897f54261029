"""A three-service Minos saga demo (order, stock, payment) running in one process; see ``run.py``."""
