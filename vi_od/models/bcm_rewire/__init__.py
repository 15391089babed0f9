"""BCM-G, rewiring: the model in `model` (JAX), its settings and columns in `settings`
(no JAX: read before JAX starts)."""
