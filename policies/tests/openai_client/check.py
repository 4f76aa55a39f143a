"""Drives `protege lm serve`'s API with the official `openai` client (run by lm_openai_client.rs).

argv: LOCAL_URL TOOLS_URL. LOCAL serves the tiny random Qwen2 model; TOOLS serves a scripted
model that answers with a Qwen-format tool call. Every check asserts; the first failure exits 1.
"""

import json
import math
import sys

import openai

local_url, tools_url = sys.argv[1], sys.argv[2]
local = openai.OpenAI(base_url=local_url + "/v1", api_key="unused", max_retries=0)
tools_client = openai.OpenAI(base_url=tools_url + "/v1", api_key="unused", max_retries=0)
MODEL = "qwen2-tiny"
MSGS = [{"role": "user", "content": "the thin"}]
checks = []


def check(name):
    def wrap(f):
        f()
        checks.append(name)
        print("ok", name, flush=True)
        return f

    return wrap


@check("chat")
def _():
    r = local.chat.completions.create(model=MODEL, messages=MSGS, max_tokens=8, temperature=0)
    c = r.choices[0]
    assert isinstance(c.message.content, str), c
    assert c.finish_reason in ("stop", "length"), c.finish_reason
    assert 0 < r.usage.completion_tokens <= 8, r.usage
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


@check("stream equals non-stream")
def _():
    whole = local.chat.completions.create(model=MODEL, messages=MSGS, max_tokens=10, temperature=0)
    parts, finish, usage = [], None, None
    for ch in local.chat.completions.create(
        model=MODEL, messages=MSGS, max_tokens=10, temperature=0, stream=True,
        stream_options={"include_usage": True},
    ):
        if ch.usage is not None:
            usage = ch.usage
        for c in ch.choices:
            parts.append(c.delta.content or "")
            finish = c.finish_reason or finish
    assert "".join(parts) == whole.choices[0].message.content, (parts, whole)
    assert finish == whole.choices[0].finish_reason
    assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens


def logprob_tokens(stream):
    kw = dict(model=MODEL, messages=MSGS, max_tokens=12, temperature=0, logprobs=True, top_logprobs=3)
    if not stream:
        r = local.chat.completions.create(**kw)
        return r.choices[0].message.content, r.choices[0].logprobs.content, r.usage
    text, toks = [], []
    for ch in local.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw):
        for c in ch.choices:
            text.append(c.delta.content or "")
            if c.logprobs is not None and c.logprobs.content:
                toks.extend(c.logprobs.content)
    return "".join(text), toks, None


@check("logprobs")
def _():
    text, toks, usage = logprob_tokens(False)
    assert len(toks) == usage.completion_tokens, (len(toks), usage)
    assert "".join(t.token for t in toks) == text, ([t.token for t in toks], text)
    for t in toks:
        assert t.logprob <= 0 and math.isfinite(t.logprob), t
        assert len(t.top_logprobs) == 3, t
        tops = [x.logprob for x in t.top_logprobs]
        assert tops == sorted(tops, reverse=True), tops
        # Greedy decoding samples the most likely token.
        assert abs(t.logprob - tops[0]) < 1e-9, (t.logprob, tops)
        assert bytes(t.bytes) == t.token.encode(), t
    stext, stoks, _ = logprob_tokens(True)
    assert stext == text and [t.logprob for t in stoks] == [t.logprob for t in toks]


@check("sampled logprobs")
def _():
    r = local.chat.completions.create(
        model=MODEL, messages=MSGS, max_tokens=12, temperature=1.0, seed=7, logprobs=True
    )
    toks = r.choices[0].logprobs.content
    assert len(toks) == r.usage.completion_tokens
    assert all(t.logprob <= 0 for t in toks)
    total = sum(t.logprob for t in toks)
    assert math.isfinite(total), total


@check("completions")
def _():
    r = local.completions.create(model=MODEL, prompt="the thin", max_tokens=6, temperature=0, logprobs=2)
    c = r.choices[0]
    assert isinstance(c.text, str)
    assert "".join(c.logprobs.tokens) == c.text, (c.logprobs.tokens, c.text)
    assert len(c.logprobs.token_logprobs) == r.usage.completion_tokens
    assert all(len(t) == 2 for t in c.logprobs.top_logprobs)
    assert c.logprobs.text_offset[0] == 0
    streamed = "".join(
        ch.choices[0].text
        for ch in local.completions.create(
            model=MODEL, prompt="the thin", max_tokens=6, temperature=0, stream=True
        )
        if ch.choices
    )
    assert streamed == c.text, (streamed, c.text)


@check("unsupported parameters are a 400 naming them")
def _():
    for kw, name in [
        (dict(presence_penalty=0.5), "presence_penalty"),
        (dict(logit_bias={"5": 10}), "logit_bias"),
        (dict(response_format={"type": "json_object"}), "response_format"),
        (dict(tool_choice="required", tools=[{"type": "function", "function": {"name": "f"}}]), "tool_choice"),
        (dict(n=2), "n"),
    ]:
        try:
            local.chat.completions.create(model=MODEL, messages=MSGS, max_tokens=2, **kw)
        except openai.BadRequestError as e:
            assert name in str(e), (name, str(e))
        else:
            raise AssertionError(f"{name} was accepted")
    try:
        local.completions.create(model=MODEL, prompt="x", max_tokens=2, echo=True)
    except openai.BadRequestError as e:
        assert "echo" in str(e), str(e)
    else:
        raise AssertionError("echo was accepted")


@check("tools are rendered for the local model")
def _():
    # Short enough for the tiny model's 128-token window once the tools are rendered.
    tool = [{"type": "function", "function": {"name": "f"}}]
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "x"}]
    plain = local.chat.completions.create(model=MODEL, messages=msgs, max_tokens=2, temperature=0)
    with_tools = local.chat.completions.create(
        model=MODEL, messages=msgs, max_tokens=2, temperature=0, tools=tool
    )
    assert with_tools.usage.prompt_tokens > plain.usage.prompt_tokens, (plain.usage, with_tools.usage)
    assert with_tools.choices[0].finish_reason in ("stop", "length", "tool_calls")


BASH = {
    "type": "function",
    "function": {
        "name": "bash",
        "description": "run a command",
        "parameters": {"type": "object", "properties": {"command": {"type": "string"}}},
    },
}


@check("tool calls round trip")
def _():
    msgs = [{"role": "user", "content": "list the files"}]
    r = tools_client.chat.completions.create(model="scripted", messages=msgs, tools=[BASH])
    c = r.choices[0]
    assert c.finish_reason == "tool_calls", c
    assert c.message.content == "I will look.", c.message.content
    (call,) = c.message.tool_calls
    assert call.type == "function" and call.function.name == "bash"
    assert json.loads(call.function.arguments) == {"command": "ls"}
    msgs.append(c.message.model_dump(exclude_none=True))
    msgs.append({"role": "tool", "tool_call_id": call.id, "content": "a.py\nb.py"})
    r = tools_client.chat.completions.create(model="scripted", messages=msgs, tools=[BASH])
    assert r.choices[0].message.content == f"saw a.py\nb.py for {call.id} after bash", r
    assert r.choices[0].finish_reason == "stop"
    # Streaming delivers the same call as deltas.
    calls = {}
    for ch in tools_client.chat.completions.create(
        model="scripted", messages=msgs[:1], tools=[BASH], stream=True
    ):
        for d in ch.choices:
            for tc in d.delta.tool_calls or []:
                e = calls.setdefault(tc.index, {"name": "", "arguments": ""})
                e["name"] += tc.function.name or ""
                e["arguments"] += tc.function.arguments or ""
    assert calls == {0: {"name": "bash", "arguments": call.function.arguments}}, calls


print("passed:", len(checks))
