"""Flamecam: continuous on-CPU and off-CPU profiling.

Data flows one way: sampler -> symbolizer -> profile model -> storage -> query -> UI.
"""

__version__ = "0.1.0"
