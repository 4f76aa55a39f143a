"""One episode on the server, as both environments drive it: open, act until the server says
the episode is over (or a turn limit is reached), then submit and read the reward."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .client import ProtegeClient


class Episode:
    def __init__(
        self,
        client: ProtegeClient,
        instance_id: str,
        sandbox: Optional[str] = None,
        config: Optional[Dict[str, Any]] = None,
        reward: Optional[Dict[str, Any]] = None,
        actor: Optional[str] = None,
    ):
        self.client = client
        self.reward_settings = reward
        opened = client.reset(instance_id, sandbox=sandbox, config=config, actor=actor)
        self.episode_id: str = opened["episode_id"]
        self.instance_id: str = opened["instance_id"]
        self.messages: List[Dict[str, str]] = opened["messages"]
        self.observation: str = opened["observation"]
        self.submission: Optional[Dict[str, Any]] = None
        self.closed = False

    def act(self, action: str, usage: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        return self.client.step(self.episode_id, action, usage=usage)

    def submit(self, patch: Optional[str] = None) -> Dict[str, Any]:
        """Grades the episode once; later calls return the same submission."""
        if self.submission is None:
            self.submission = self.client.submit(self.episode_id, patch=patch, reward=self.reward_settings)
            self.closed = True
        return self.submission

    def close(self) -> None:
        """Ends an episode that was not submitted (its workspace is removed)."""
        if not self.closed:
            self.closed = True
            self.client.close(self.episode_id)


def metadata(sub: Dict[str, Any]) -> Dict[str, Any]:
    """What a trainer logs about a graded episode: the reward's components, the verdict."""
    return {
        "instance_id": sub["instance_id"],
        "resolved": sub["resolved"],
        "outcome": sub["outcome"],
        "reward": sub["reward"],
        "stats": sub["stats"],
        "patch": sub.get("patch"),
    }
