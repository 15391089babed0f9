"""vi-od: estimate the parameters of agent-based opinion-dynamics models from observed traces."""

__version__ = "0.1.0"
