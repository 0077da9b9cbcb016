"""The workload being hardened. The service itself is the ``orders_api`` package (``app.orders_api``)."""
