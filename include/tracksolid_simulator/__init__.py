"""A protocol-faithful Tracksolid Pro (Jimi IoT) simulator with ground truth.

Public API (a contract used by the hook, DAG, webhook and warehouse tests)::

    from tracksolid_simulator import SimulatorConfig, Fleet, SimulatorServer, FaultSpec
"""

from tracksolid_simulator.config import SimulatorConfig
from tracksolid_simulator.faults import FaultSpec
from tracksolid_simulator.fleet import Fleet
from tracksolid_simulator.protocol import sign_params
from tracksolid_simulator.server import SimulatorServer

__all__ = ["FaultSpec", "Fleet", "SimulatorConfig", "SimulatorServer", "sign_params"]
