"""A Gymnasium-style environment over `protege serve` (no dependency on gymnasium itself):
`reset()` opens an episode, `step(reply)` carries out the model's reply, and the step that ends
the episode submits it, so its reward is the graded reward (0 before)."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from .client import ProtegeClient
from .episode import Episode, metadata


class ProtegeEnv:
    """Observations and actions are text: the observation is the next user message, the action
    the model's whole reply (a thought and one fenced action)."""

    def __init__(
        self,
        client: ProtegeClient,
        instance_id: Optional[str] = None,
        sandbox: Optional[str] = None,
        config: Optional[Dict[str, Any]] = None,
        reward: Optional[Dict[str, Any]] = None,
        max_turns: Optional[int] = None,
    ):
        self.client = client
        self.instance_id = instance_id
        self.sandbox = sandbox
        self.config = config
        self.reward = reward
        self.max_turns = max_turns
        self.episode: Optional[Episode] = None
        self.turns = 0

    def reset(self, seed: Optional[int] = None, options: Optional[Dict[str, Any]] = None) -> Tuple[str, Dict[str, Any]]:
        """Opens a new episode (closing an unfinished one). `options["instance_id"]` picks the
        task; `seed` is accepted for the Gymnasium signature (episodes are not random)."""
        self.close()
        instance_id = (options or {}).get("instance_id", self.instance_id)
        if instance_id is None:
            raise ValueError("ProtegeEnv.reset: no instance_id (pass it to the constructor or in options)")
        self.episode = Episode(
            self.client, instance_id, sandbox=self.sandbox, config=self.config, reward=self.reward, actor="gym"
        )
        self.turns = 0
        info = {"episode_id": self.episode.episode_id, "messages": self.episode.messages}
        return self.episode.observation, info

    def step(self, action: str) -> Tuple[str, float, bool, bool, Dict[str, Any]]:
        """Returns (observation, reward, terminated, truncated, info). `terminated`: the model
        submitted; `truncated`: a limit ended the episode (the server's or `max_turns`)."""
        if self.episode is None or self.episode.closed:
            raise RuntimeError("ProtegeEnv.step: call reset() first")
        o = self.episode.act(action)
        self.turns += 1
        over_turns = self.max_turns is not None and self.turns >= self.max_turns
        if not (o["done"] or over_turns):
            return o["observation"], 0.0, False, False, {"step": o["step"]}
        sub = self.episode.submit()
        terminated = o.get("exit_reason") == "submitted"
        info = metadata(sub)
        info["exit_reason"] = o.get("exit_reason") or "max_turns"
        return o["observation"], float(sub["reward"]["total"]), terminated, not terminated, info

    def close(self) -> None:
        if self.episode is not None:
            self.episode.close()
            self.episode = None
