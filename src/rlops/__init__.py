"""rlops: a local-first reinforcement-learning platform."""

__version__ = "0.1.0"
