"""Opinion-dynamics models: each a package owning its parameters, priors, simulator and likelihood.

`bcm_roles` is the bounded-confidence model with backfire and two roles (the paper's). A
second model is a new package here; data readers and inference code take its pieces as
arguments or import them from its package, never from each other.
"""
