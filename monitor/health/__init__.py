"""Link health: what a fetch says (signals), what it means over time (state), and
the guard that keeps the monitor's own outage from being blamed on the sources."""

from monitor.health.offline import PassGuard
from monitor.health.signals import Observation, Signal, is_network_failure, observe
from monitor.health.state import HealthState, Transition, judge

__all__ = [
    "HealthState", "Observation", "PassGuard", "Signal", "Transition", "is_network_failure",
    "judge", "observe",
]
