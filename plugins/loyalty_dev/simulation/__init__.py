"""The synthetic retailer: customers, their purchase behaviour, and how they react to messages.

An independent witness: it never imports the code it checks (channels, ledger, webhooks,
metrics). It writes its ground truth (`sim.truth`) before any workflow runs and learns which
messages customers received only from the provider emulator, as a real customer would.
"""

from loyalty_dev.simulation.generator import GeneratorConfig, generate
from loyalty_dev.simulation.world import advance_to, react_to_messages

__all__ = ["GeneratorConfig", "advance_to", "generate", "react_to_messages"]
