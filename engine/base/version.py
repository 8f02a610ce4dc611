"""The engine's version, in one place (the package, the cache key and the decision log read it)."""

__version__ = "0.1.0"
