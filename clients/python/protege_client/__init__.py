"""Trainer-side client for `protege serve`: the episode API, and environments over it."""

from .client import ProtegeClient, ProtegeError, advantages
from .gym import ProtegeEnv

__all__ = ["ProtegeClient", "ProtegeError", "ProtegeEnv", "advantages"]
__version__ = "0.1.0"
