#!/usr/bin/env python3
"""Independent reference for protege's candle Qwen2 backend (policies/src/lm).

Writes policies/tests/fixtures/lm/qwen2-tiny/, a complete Hugging Face model directory holding a
tiny random Qwen2 model, and the files the Rust tests compare against:

  config.json, generation_config.json     Qwen2ForCausalLM, hidden 64, 2 layers, GQA 4/2 heads
  model.safetensors                       f32 weights, written here byte by byte (no library)
  tokenizer.json, tokenizer_config.json   a byte-level BPE tokenizer with Qwen's special tokens and
                                          a Qwen2.5-style chat template
  expected.json                           input ids and the reference logits (untied and tied head)
  templates.json                          chat templates rendered by Python's jinja2 the way
                                          transformers renders them (trim_blocks, lstrip_blocks)

The forward pass below is written from the Qwen2 architecture description (RMSNorm, rotary
position embedding in the "rotate half" layout, grouped-query attention with biases on q/k/v,
SwiGLU MLP), in float64 numpy, and reads the weights back from the safetensors file it wrote, so
the Rust side and this side see exactly the same numbers. It shares no code with candle.

Needs numpy and jinja2 (`pip install numpy jinja2`). Deterministic: running it again rewrites
identical files. Usage: python3 scripts/lm_reference.py [--out DIR]
"""

import argparse
import json
import os
import struct
import sys

import numpy as np

CONFIG = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "vocab_size": 272,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 128,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-6,
    "hidden_act": "silu",
    "tie_word_embeddings": False,
    "sliding_window": 128,
    "max_window_layers": 2,
    "use_sliding_window": False,
    "bos_token_id": 256,
    "eos_token_id": 258,
    "torch_dtype": "float32",
}

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 256, 257, 258

# A Qwen2.5-style chat template (default system prompt, tools block, tool calls and responses).
QWEN25_TEMPLATE = (
    "{%- if tools %}\n"
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] }}\n"
    "    {%- else %}\n"
    "        {{- 'You are a helpful assistant.' }}\n"
    "    {%- endif %}\n"
    "    {{- \"\\n\\n# Tools\\n\\n<tools>\" }}\n"
    "    {%- for tool in tools %}\n"
    "        {{- \"\\n\" }}\n"
    "        {{- tool | tojson }}\n"
    "    {%- endfor %}\n"
    "    {{- \"\\n</tools><|im_end|>\\n\" }}\n"
    "{%- else %}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    "    {%- else %}\n"
    "        {{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) "
    "or (message.role == \"assistant\" and not message.tool_calls) %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
    "    {%- elif message.role == \"assistant\" %}\n"
    "        {{- '<|im_start|>' + message.role }}\n"
    "        {%- if message.content %}\n"
    "            {{- '\\n' + message.content }}\n"
    "        {%- endif %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    "    {%- elif message.role == \"tool\" %}\n"
    "        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n"
    "            {{- '<|im_start|>user' }}\n"
    "        {%- endif %}\n"
    "        {{- '\\n<tool_response>\\n' }}\n"
    "        {{- message.content }}\n"
    "        {{- '\\n</tool_response>' }}\n"
    "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n"
    "            {{- '<|im_end|>\\n' }}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n"
)

# SmolLM2-135M-Instruct's template, as its GGUF file (tokenizer.chat_template) carries it.
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Exercises the Python-isms real templates use (string methods, slicing, namespace, raise).
PYISH_TEMPLATE = (
    "{%- set ns = namespace(last_user=-1) %}\n"
    "{%- for m in messages %}{% if m.role == 'user' %}{% set ns.last_user = loop.index0 %}"
    "{% endif %}{% endfor %}\n"
    "{%- for m in messages[::-1] %}\n"
    "[{{ loop.index0 }}:{{ m.role | upper }}:{{ m.content.strip().split(' ')[0] }}"
    ":{{ m.content.startswith('Fix') }}:{{ m.content.lstrip('F') }}]\n"
    "{%- endfor %}\n"
    "last_user={{ ns.last_user }} n={{ messages | length }}"
    "{%- if add_generation_prompt %}<go>{% endif %}"
)


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map (byte-level BPE's alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1)
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def tokenizer_json():
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    # Special tokens live in the model vocabulary too (as in GPT-2's), so that their ids are the
    # ones listed in added_tokens (tokenizers assigns ids past the vocabulary otherwise).
    for i, s in enumerate(SPECIALS):
        vocab[s] = 256 + i
    # A few merges so BPE has something to do: "Ġt", "he", "Ġthe", "in", "er".
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("e", "r")]
    next_id = 256 + len(SPECIALS)
    for a, b in merges:
        vocab[a + b] = next_id
        next_id += 1
    added = [
        {
            "id": 256 + i,
            "content": s,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for i, s in enumerate(SPECIALS)
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": False,
            "use_regex": True,
        },
        "post_processor": None,
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": False,
            "use_regex": True,
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [f"{a} {b}" for a, b in merges],
        },
    }


def random_weights(cfg, seed=20250501):
    rng = np.random.RandomState(seed)
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = h // nh
    w = {}

    def mat(*shape, scale=None):
        scale = scale if scale is not None else 1.0 / np.sqrt(shape[-1])
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w["model.embed_tokens.weight"] = mat(v, h, scale=1.0)
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        w[p + "input_layernorm.weight"] = (1.0 + 0.1 * rng.standard_normal(h)).astype(np.float32)
        w[p + "post_attention_layernorm.weight"] = (1.0 + 0.1 * rng.standard_normal(h)).astype(
            np.float32
        )
        w[p + "self_attn.q_proj.weight"] = mat(nh * hd, h)
        w[p + "self_attn.q_proj.bias"] = mat(nh * hd, scale=0.5)
        w[p + "self_attn.k_proj.weight"] = mat(nkv * hd, h)
        w[p + "self_attn.k_proj.bias"] = mat(nkv * hd, scale=0.5)
        w[p + "self_attn.v_proj.weight"] = mat(nkv * hd, h)
        w[p + "self_attn.v_proj.bias"] = mat(nkv * hd, scale=0.5)
        w[p + "self_attn.o_proj.weight"] = mat(h, nh * hd)
        w[p + "mlp.gate_proj.weight"] = mat(i, h)
        w[p + "mlp.up_proj.weight"] = mat(i, h)
        w[p + "mlp.down_proj.weight"] = mat(h, i)
    w["model.norm.weight"] = (1.0 + 0.1 * rng.standard_normal(h)).astype(np.float32)
    w["lm_head.weight"] = mat(v, h)
    return w


def write_safetensors(path, tensors):
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name], dtype="<f4")
        data = arr.tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, meta in header.items():
            if name == "__metadata__":
                continue
            assert meta["dtype"] == "F32", meta
            start, end = meta["data_offsets"]
            f.seek(base + start)
            out[name] = np.frombuffer(f.read(end - start), dtype="<f4").reshape(meta["shape"])
        return out


# ---- the reference forward pass (float64) -------------------------------------------------


def rms_norm(x, weight, eps):
    var = np.mean(x * x, axis=-1, keepdims=True)
    return x / np.sqrt(var + eps) * weight


def rope(x, positions, theta):
    """x: (heads, seq, head_dim). Qwen2 / GPT-NeoX layout: rotate the two halves."""
    d = x.shape[-1]
    inv_freq = 1.0 / (theta ** (np.arange(0, d, 2, dtype=np.float64) / d))
    freqs = np.outer(positions.astype(np.float64), inv_freq)  # (seq, d/2)
    emb = np.concatenate([freqs, freqs], axis=-1)  # (seq, d)
    cos, sin = np.cos(emb), np.sin(emb)
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    rotated = np.concatenate([-x2, x1], axis=-1)
    return x * cos + rotated * sin


def silu(x):
    return x / (1.0 + np.exp(-x))


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=-1, keepdims=True)


def forward(cfg, w, ids, tied):
    w = {k: v.astype(np.float64) for k, v in w.items()}
    h, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = h // nh
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    seq = len(ids)
    pos = np.arange(seq)
    x = w["model.embed_tokens.weight"][np.array(ids)]  # (seq, h)
    causal = np.triu(np.full((seq, seq), -np.inf), k=1)
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        y = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = y @ w[p + "self_attn.q_proj.weight"].T + w[p + "self_attn.q_proj.bias"]
        k = y @ w[p + "self_attn.k_proj.weight"].T + w[p + "self_attn.k_proj.bias"]
        v = y @ w[p + "self_attn.v_proj.weight"].T + w[p + "self_attn.v_proj.bias"]
        q = q.reshape(seq, nh, hd).transpose(1, 0, 2)
        k = k.reshape(seq, nkv, hd).transpose(1, 0, 2)
        v = v.reshape(seq, nkv, hd).transpose(1, 0, 2)
        q, k = rope(q, pos, theta), rope(k, pos, theta)
        group = nh // nkv
        heads = []
        for head in range(nh):
            kv = head // group  # query head `head` reads key/value head `head // group`
            scores = q[head] @ k[kv].T / np.sqrt(hd) + causal
            heads.append(softmax(scores) @ v[kv])
        attn = np.stack(heads).transpose(1, 0, 2).reshape(seq, nh * hd)
        x = x + attn @ w[p + "self_attn.o_proj.weight"].T
        y = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = silu(y @ w[p + "mlp.gate_proj.weight"].T)
        up = y @ w[p + "mlp.up_proj.weight"].T
        x = x + (gate * up) @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if tied else w["lm_head.weight"]
    return x @ head.T  # (seq, vocab)


# ---- chat templates, rendered the way transformers does ------------------------------------


def render_templates():
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception

    conversations = {
        "single": [{"role": "user", "content": "Fix the failing test in utils.py"}],
        "system_multi": [
            {"role": "system", "content": "You are a careful engineer."},
            {"role": "user", "content": "Fix the bug.\nIt crashes on empty input."},
            {"role": "assistant", "content": "Looking at `parse()` now."},
            {"role": "user", "content": "  Fix it quickly please  "},
        ],
        "unicode": [
            {"role": "user", "content": "Grüße — naïve café ✓ 日本語 {{ not a tag }}"},
        ],
    }
    cases = []
    for tname, tsrc in [
        ("qwen25", QWEN25_TEMPLATE),
        ("smollm2", SMOLLM2_TEMPLATE),
        ("pyish", PYISH_TEMPLATE),
    ]:
        tpl = env.from_string(tsrc)
        for cname, msgs in conversations.items():
            for agp in (True, False):
                out = tpl.render(
                    messages=msgs,
                    add_generation_prompt=agp,
                    bos_token="",
                    eos_token="<|im_end|>",
                    tools=None,
                )
                cases.append(
                    {
                        "template": tname,
                        "conversation": cname,
                        "messages": msgs,
                        "add_generation_prompt": agp,
                        "expected": out,
                    }
                )
    return {
        "templates": {"qwen25": QWEN25_TEMPLATE, "smollm2": SMOLLM2_TEMPLATE, "pyish": PYISH_TEMPLATE},
        "cases": cases,
    }


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(root, "policies/tests/fixtures/lm"))
    args = ap.parse_args()
    model_dir = os.path.join(args.out, "qwen2-tiny")
    os.makedirs(model_dir, exist_ok=True)

    def dump(path, obj):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1, ensure_ascii=False)
            f.write("\n")

    dump(os.path.join(model_dir, "config.json"), CONFIG)
    dump(
        os.path.join(model_dir, "generation_config.json"),
        {"bos_token_id": 256, "eos_token_id": [258, 256], "do_sample": True},
    )
    dump(os.path.join(model_dir, "tokenizer.json"), tokenizer_json())
    dump(
        os.path.join(model_dir, "tokenizer_config.json"),
        {
            "add_bos_token": False,
            "bos_token": None,
            "eos_token": "<|im_end|>",
            "pad_token": "<|endoftext|>",
            "model_max_length": 128,
            "chat_template": QWEN25_TEMPLATE,
            "tokenizer_class": "Qwen2Tokenizer",
        },
    )
    weights = random_weights(CONFIG)
    st = os.path.join(model_dir, "model.safetensors")
    write_safetensors(st, weights)
    w = read_safetensors(st)  # the reference reads back exactly what the Rust side will read

    ids = [257, 120, 104, 101, 259, 261, 262, 40, 33, 258, 10, 263]
    logits = forward(CONFIG, w, ids, tied=False)
    logits_tied = forward(CONFIG, w, ids, tied=True)
    dump(
        os.path.join(args.out, "qwen2-tiny-expected.json"),
        {
            "note": "written by scripts/lm_reference.py (float64 numpy reference forward pass)",
            "input_ids": ids,
            "logits": [[float(f"{x:.7g}") for x in row] for row in logits],
            "logits_tied": [[float(f"{x:.7g}") for x in row] for row in logits_tied],
        },
    )
    dump(os.path.join(args.out, "templates.json"), render_templates())
    print(f"wrote {model_dir} and expectations; logits[-1][:4] = {logits[-1][:4]}", file=sys.stderr)


if __name__ == "__main__":
    main()
