"""`turnout doctor`: probe every configured path for real and say which routes work.

`run_doctor` does the probing and returns a `DoctorReport`; `turnout.doctor.report` renders it
as a table or as JSON. Nothing in this package prints on its own.
"""

from turnout.doctor.gateway import GatedPath, GatewayState, default_gateway_url
from turnout.doctor.probe import (
    DEFAULT_TIMEOUT_S,
    DoctorReport,
    PathPlan,
    PathResult,
    RouteHealth,
    plan_paths,
    run_doctor,
)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "DoctorReport",
    "GatedPath",
    "GatewayState",
    "PathPlan",
    "PathResult",
    "RouteHealth",
    "default_gateway_url",
    "plan_paths",
    "run_doctor",
]
