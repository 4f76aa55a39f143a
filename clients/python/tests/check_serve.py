"""Checks protege_client against a real `protege serve` (run by tests/e2e_trainer_client.rs).

usage: check_serve.py BASE_URL SCENARIO.json OUT.json

SCENARIO.json: {"instance_id", "fix": [replies that make the gold fix], "submit": reply,
"reward": the reward settings for the SkyRL episode}. Writes what the Rust test compares with
`protege eval` to OUT.json, and prints one line per check and a closing count.
"""

import json
import math
import sys
import time

from protege_client import ProtegeClient, ProtegeEnv, ProtegeError, advantages
from protege_client.skyrl import ProtegeSkyRLEnv
from skyrl_gym.envs.base_text_env import BaseTextEnv

base, scenario_path, out_path = sys.argv[1:4]
sc = json.load(open(scenario_path))
iid, fix, submit = sc["instance_id"], sc["fix"], sc["submit"]
results = {}
passed = failed = 0


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"ok {name}", flush=True)
    except Exception as e:  # report every check, then fail at the end
        failed += 1
        print(f"FAILED {name}: {type(e).__name__}: {e}", flush=True)


def skyrl_episode(reward):
    env = ProtegeSkyRLEnv(env_config={"base_url": base, "reward": reward}, extras={"instance_id": iid})
    assert isinstance(env, BaseTextEnv)
    conversation, info = env.init([{"role": "user", "content": "the dataset's prompt, replaced"}])
    assert conversation[0]["role"] == "system" and conversation[1]["role"] == "user", conversation
    assert info["episode_id"].startswith("ep-"), info
    for reply in fix:
        out = env.step(reply)
        assert out["done"] is False and out["reward"] == 0.0, out
        obs = out["observations"]
        assert len(obs) == 1 and obs[0]["role"] == "user", obs
        assert not obs[0]["content"].startswith("error"), obs
    out = env.step(submit)
    assert out["done"] is True and out["observations"] == [], out
    env.close()
    return out, env.get_metrics()


def t_skyrl():
    out, metrics = skyrl_episode(sc["reward"])
    meta = out["metadata"]
    assert meta["resolved"] is True, meta
    assert out["reward"] == meta["reward"]["total"], out
    assert meta["exit_reason"] == "submitted", meta
    assert metrics["resolved"] == 1.0 and metrics["steps"] == len(fix) + 1, metrics
    results["skyrl"] = meta


def t_gym():
    env = ProtegeEnv(ProtegeClient(base), instance_id=iid)
    obs, info = env.reset()
    assert "<issue>" in obs and info["messages"][0]["role"] == "system", (obs, info)
    for reply in fix:
        obs, reward, terminated, truncated, info = env.step(reply)
        assert (reward, terminated, truncated) == (0.0, False, False), info
    obs, reward, terminated, truncated, info = env.step(submit)
    assert (terminated, truncated) == (True, False) and info["resolved"], info
    assert reward == 1.0, info["reward"]  # the blog preset's resolved reward
    env.close()


def t_group():
    # A GRPO group of 3: two episodes that fix the task, one that gives up at once.
    env = ProtegeEnv(ProtegeClient(base), instance_id=iid)
    rewards = []
    for replies in (fix + [submit], [submit], fix + [submit]):
        env.reset()
        for r in replies:
            _, reward, terminated, truncated, info = env.step(r)
        assert terminated or truncated
        rewards.append(reward)
    assert rewards == [1.0, -0.1, 1.0], rewards
    adv = advantages(rewards)
    want = [math.sqrt(2) / 2, -math.sqrt(2), math.sqrt(2) / 2]
    assert all(abs(a - w) < 1e-9 for a, w in zip(adv, want)), adv
    assert advantages(rewards, normalize=False)[1] < 0 and advantages([0.5, 0.5]) == [0.0, 0.0]
    results["group"] = {"rewards": rewards, "advantages": adv}


def t_errors():
    c = ProtegeClient(base)
    try:
        c.reset("no-such-task")
        raise AssertionError("an unknown instance was accepted")
    except ProtegeError as e:
        assert e.status == 404 and "no-such-task" in e.message, e
    try:
        c.grade(iid, "", reward={"stage": "warmup"})
        raise AssertionError("an unknown stage was accepted")
    except ProtegeError as e:
        assert e.status == 400 and "warmup" in e.message, e
    try:
        ProtegeClient("http://127.0.0.1:9").health()
        raise AssertionError("a closed port answered")
    except ProtegeError as e:
        assert e.status == 0 and "cannot reach" in e.message, e


def t_bench():
    # Client overhead: the same scripted episodes through the SkyRL environment and as direct
    # HTTP calls (figures for the notes, no assertion on time).
    n = int(sc.get("bench_episodes", 3))
    t0 = time.perf_counter()
    for _ in range(n):
        skyrl_episode({})
    t_env = time.perf_counter() - t0
    c = ProtegeClient(base)
    t0 = time.perf_counter()
    for _ in range(n):
        ep = c.reset(iid)["episode_id"]
        for r in fix + [submit]:
            c.step(ep, r)
        assert c.submit(ep)["resolved"]
    t_http = time.perf_counter() - t0
    results["bench"] = {
        "episodes": n,
        "skyrl_per_min": 60 * n / t_env,
        "http_per_min": 60 * n / t_http,
    }
    print(f"bench: {n} episodes: skyrl-gym {60 * n / t_env:.1f}/min, direct HTTP {60 * n / t_http:.1f}/min")


for name, fn in [("skyrl", t_skyrl), ("gym", t_gym), ("group", t_group), ("errors", t_errors), ("bench", t_bench)]:
    check(name, fn)
json.dump(results, open(out_path, "w"))
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
