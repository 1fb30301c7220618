"""eclip's GPU backend: the Python process that owns the GPU.

Data flows one way: capture + profile (profile.json) -> plan (made by the TypeScript optimizer) -> execute -> measure
(results). This package never decides a plan; it runs what it is given and measures it.
"""

__version__ = "0.1.0"
