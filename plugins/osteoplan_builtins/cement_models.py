"""Built-in cement-spread model: the parameters in resources/cement_model.json (`osteoplan.core.cement.spread`)."""

from __future__ import annotations

from osteoplan.core.cement.spread import CementModel, cement_model


def spread_parameters() -> CementModel:
    return cement_model()
