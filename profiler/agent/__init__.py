"""The agent's shipping side: labels, batches, spool, upload, metrics."""

from profiler.agent.run import AgentOptions, run_agent

__all__ = ["AgentOptions", "run_agent"]
