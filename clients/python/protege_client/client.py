"""The episode API of `protege serve` over HTTP/JSON (docs/serve.md, docs/openapi.json).

Standard library only, so a trainer's environment gains no dependency. Every method returns the
server's JSON answer as a dict; an error answer raises `ProtegeError` with the status and the
server's message (which names what was wrong).
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional, Sequence


class ProtegeError(Exception):
    """An error answer (or no answer) from the server."""

    def __init__(self, status: int, message: str, route: str):
        super().__init__(f"{route}: HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.route = route


class ProtegeClient:
    """A client of one `protege serve` at `base_url` (e.g. `http://127.0.0.1:8377`)."""

    def __init__(self, base_url: str, token: Optional[str] = None, timeout: float = 3600.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        route = f"{method} {path}"
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                message = json.loads(raw).get("error", raw.decode(errors="replace"))
            except ValueError:
                message = raw.decode(errors="replace")
            raise ProtegeError(e.code, message, route) from None
        except urllib.error.URLError as e:
            raise ProtegeError(0, f"cannot reach {self.base_url}: {e.reason}", route) from None

    @staticmethod
    def _drop_none(d: Dict[str, Any]) -> Dict[str, Any]:
        return {k: v for k, v in d.items() if v is not None}

    def health(self) -> Dict[str, Any]:
        return self._call("GET", "/health")

    def instances(self) -> List[Dict[str, Any]]:
        return self._call("GET", "/instances")["instances"]

    def reset(
        self,
        instance_id: str,
        sandbox: Optional[str] = None,
        config: Optional[Dict[str, Any]] = None,
        actor: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Opens an episode: `episode_id`, `observation`, `messages` (system prompt, issue)."""
        body = self._drop_none(
            {"instance_id": instance_id, "sandbox": sandbox, "config": config, "actor": actor}
        )
        return self._call("POST", "/episodes", body)

    def step(self, episode_id: str, action: str, usage: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """Carries out the model's whole reply: `observation`, `done`, `step`, `exit_reason`."""
        return self._call(
            "POST", f"/episodes/{episode_id}/step", self._drop_none({"action": action, "usage": usage})
        )

    def submit(
        self,
        episode_id: str,
        patch: Optional[str] = None,
        reward: Optional[Dict[str, Any]] = None,
    ) -> Dict[str, Any]:
        """Grades the episode (its workspace diff, or `patch`) in a fresh sandbox and ends it:
        `verdict`, `resolved`, `reward` with its components, `stats`, `trajectory`."""
        return self._call(
            "POST", f"/episodes/{episode_id}/submit", self._drop_none({"patch": patch, "reward": reward})
        )

    def close(self, episode_id: str) -> Dict[str, Any]:
        return self._call("DELETE", f"/episodes/{episode_id}")

    def grade(
        self,
        instance_id: str,
        patch: Optional[str],
        sandbox: Optional[str] = None,
        reward: Optional[Dict[str, Any]] = None,
    ) -> Dict[str, Any]:
        """Grades a patch on its own (`None`: no patch)."""
        body = {"instance_id": instance_id, "patch": patch}
        body.update(self._drop_none({"sandbox": sandbox, "reward": reward}))
        return self._call("POST", "/grade", body)

    def rollouts(
        self,
        instance_ids: Sequence[str],
        n: int = 1,
        policy: Optional[Dict[str, Any]] = None,
        reward: Optional[Dict[str, Any]] = None,
        sandbox: Optional[str] = None,
        seed: int = 0,
        normalize: bool = True,
    ) -> Dict[str, Any]:
        """Runs the server-side agent `n` times per instance: GRPO groups with advantages."""
        body = {"instance_ids": list(instance_ids), "n": n, "seed": seed, "normalize": normalize}
        body.update(self._drop_none({"policy": policy, "reward": reward, "sandbox": sandbox}))
        return self._call("POST", "/rollouts", body)


def advantages(rewards: Sequence[float], normalize: bool = True) -> List[float]:
    """GRPO group advantages, as `protege serve` computes them: each reward minus the group
    mean, divided by the group's (population) standard deviation when `normalize` and it is not
    zero."""
    if not rewards:
        return []
    n = len(rewards)
    mean = sum(rewards) / n
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / n)
    if normalize and std > 1e-12:
        return [(r - mean) / std for r in rewards]
    return [r - mean for r in rewards]
