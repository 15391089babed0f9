"""Test helper: a fit file's JSON built from a posterior (imported by name; a conftest cannot be,
as pytest may have another folder's conftest under that module name)."""


def record_json(posterior, trace) -> dict:
    """The fit file of a posterior of the paper's model fitted to a trace (plain JSON)."""
    import json

    from vi_od.data.trace import to_observations
    from vi_od.inference.record import FitRecord
    from vi_od.models import default_model

    record = FitRecord.of(posterior, to_observations(trace), default_model(),
                          method=posterior.method, settings={}, seed=0,
                          wall_time_s=0.0)  # fmt: skip
    return json.loads(json.dumps(record.to_json()))
