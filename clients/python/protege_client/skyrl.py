"""A SkyRL-gym text environment over `protege serve`.

SkyRL constructs environments as `Env(env_config, extras)`: `env_config` holds the server
(`base_url`, `token`) and the settings every episode shares (`sandbox`, `config` for the agent,
`reward` for the reward preset, stage or coefficients, `max_turns`); `extras` is the sample's
row and names its task as `instance_id` (top level, or inside `extra_info`). `init(prompt)`
opens the episode and returns the server's first conversation (the system prompt with the
action set, then the issue), which the dataset's prompt is replaced by, since the server parses
the model's replies against that action set. `step(action)` returns the next observation as a
user message, with reward 0 until the episode ends; the step that ends it submits the episode
and returns the graded reward, its components in `metadata`.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

try:
    from skyrl_gym.envs.base_text_env import BaseTextEnv, BaseTextEnvStepOutput
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "protege_client.skyrl needs skyrl-gym: pip install 'protege-client[skyrl]' (skyrl-gym==0.4.0)"
    ) from e

from .client import ProtegeClient
from .episode import Episode, metadata


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    """A key of a dict or an OmegaConf DictConfig (what SkyRL passes), plain Python values."""
    if cfg is None:
        return default
    value = cfg.get(key, default) if hasattr(cfg, "get") else getattr(cfg, key, default)
    try:  # OmegaConf containers to plain dicts, so they serialise as JSON.
        from omegaconf import OmegaConf

        if OmegaConf.is_config(value):
            return OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return value


class ProtegeSkyRLEnv(BaseTextEnv):
    def __init__(self, env_config: Any = None, extras: Optional[Dict[str, Any]] = None):
        super().__init__()
        extras = extras or {}
        base_url = _get(env_config, "base_url")
        if not base_url:
            raise ValueError("ProtegeSkyRLEnv: env_config.base_url (the protege serve address) is required")
        self.client = ProtegeClient(base_url, token=_get(env_config, "token"), timeout=_get(env_config, "timeout", 3600.0))
        self.instance_id = extras.get("instance_id") or (extras.get("extra_info") or {}).get("instance_id")
        if not self.instance_id:
            raise ValueError("ProtegeSkyRLEnv: extras.instance_id (or extras.extra_info.instance_id) is required")
        self.sandbox = _get(env_config, "sandbox")
        self.agent_config = _get(env_config, "config")
        self.reward_settings = _get(env_config, "reward")
        self.max_turns = int(_get(env_config, "max_turns", 100))
        self.episode: Optional[Episode] = None
        self.last: Optional[Dict[str, Any]] = None

    def init(self, prompt: Any) -> Tuple[list, Dict[str, Any]]:
        self.episode = Episode(
            self.client,
            self.instance_id,
            sandbox=self.sandbox,
            config=self.agent_config,
            reward=self.reward_settings,
            actor="skyrl",
        )
        self.turns = 0
        return list(self.episode.messages), {"episode_id": self.episode.episode_id}

    def step(self, action: str) -> BaseTextEnvStepOutput:
        if self.episode is None or self.episode.closed:
            raise RuntimeError("ProtegeSkyRLEnv.step: the episode is not open (call init first)")
        self.turns += 1
        o = self.episode.act(action)
        if not (o["done"] or self.turns >= self.max_turns):
            return BaseTextEnvStepOutput(
                observations=[{"role": "user", "content": o["observation"]}],
                reward=0.0,
                done=False,
                metadata={"step": o["step"]},
                postprocessed_action=None,
            )
        sub = self.episode.submit()
        self.last = sub
        meta = metadata(sub)
        meta["exit_reason"] = o.get("exit_reason") or "max_turns"
        return BaseTextEnvStepOutput(
            observations=[],
            reward=float(sub["reward"]["total"]),
            done=True,
            metadata=meta,
            postprocessed_action=None,
        )

    def get_metrics(self) -> Dict[str, Any]:
        if self.last is None:
            return {}
        s = self.last["stats"]
        return {
            "resolved": float(self.last["resolved"]),
            "steps": s["steps"],
            "expert_calls": s["expert_calls"],
            "expert_token_share": s["expert_token_share"],
            "long_loop": float(s.get("longest_run", 0) > 10),
            "cost": s["cost"],
        }

    def close(self) -> None:
        if self.episode is not None:
            self.episode.close()
