"""Can I trust this fit? Posterior predictive checks (ppc), simulation-based calibration (sbc)
and the misspecified generators that show what the checks catch (misspecified)."""
