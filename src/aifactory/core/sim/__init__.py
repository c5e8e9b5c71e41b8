"""The federation simulator: scaled catalog machines (federation), user estimates (estimates), the event-driven
engine with per-machine FCFS + EASY backfilling (engine), placement policies (policies) and figures (metrics).

The hot modules run compiled when a build of them is present (aifactory.core.sim.native), so the package's path is
set before any of them is imported."""

from aifactory.core.sim import native

native.use(__path__)

from aifactory.core.sim.arrivals import Chunk, RaisedArrivals
from aifactory.core.sim.engine import SimResult, candidates_by_width, simulate, simulate_arrivals
from aifactory.core.sim.estimates import ESTIMATES, estimates
from aifactory.core.sim.federation import (
    Federation,
    JobMix,
    SimMachine,
    federation_at_load,
    raise_to_load,
    real_size_arrivals,
    scale_to_load,
    simulable,
)
from aifactory.core.sim.metrics import (
    WHOLE_NODES,
    WITHIN_NODE,
    RunMetrics,
    delay_by_machine_over_time,
    delay_over_time,
    lower_bound_mean_jct,
    measure,
)
from aifactory.core.sim.policies import POLICIES

__all__ = [
    "ESTIMATES", "POLICIES", "WHOLE_NODES", "WITHIN_NODE", "Chunk", "Federation", "JobMix", "RaisedArrivals",
    "RunMetrics", "SimMachine", "SimResult", "candidates_by_width", "delay_by_machine_over_time", "delay_over_time",
    "estimates", "federation_at_load", "lower_bound_mean_jct", "measure", "raise_to_load", "real_size_arrivals",
    "scale_to_load", "simulable", "simulate", "simulate_arrivals",
]
