//! The Qwen2 / Qwen2.5 decoder (Hugging Face `Qwen2ForCausalLM` weights), built from candle-nn
//! operations. It follows candle-transformers' `qwen2` module (and is checked against it and
//! against an independent numpy reference in `tests/lm_numerics.rs`) and adds what serving a
//! conversation needs: a KV cache that can be cut back to a shared prefix, a causal mask that is
//! right for any dtype when a multi-token step extends a cache (candle-transformers 0.11 builds it
//! in f32 and fails to concatenate it in bf16/f16), attention softmax in f32, and logits for
//! every position (for numerics checks) or only the last.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, Linear, RmsNorm, VarBuilder};
use serde::{Deserialize, Serialize};

/// `config.json` of a Qwen2 model (the fields this implementation reads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Qwen2Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub rope_scaling: Option<serde_json::Value>,
    #[serde(default)]
    pub use_sliding_window: bool,
}

fn default_max_positions() -> usize {
    32768
}
fn default_rope_theta() -> f64 {
    10000.0
}
fn default_eps() -> f64 {
    1e-6
}
fn default_act() -> String {
    "silu".into()
}

impl Qwen2Config {
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
    /// Settings this implementation cannot honour, as a message.
    pub fn unsupported(&self) -> Option<String> {
        if self.hidden_act != "silu" {
            return Some(format!("hidden_act {:?} (only silu)", self.hidden_act));
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
            || self.kv_heads() == 0
            || !self.num_attention_heads.is_multiple_of(self.kv_heads())
        {
            return Some(format!(
                "head layout hidden_size {} / num_attention_heads {} / num_key_value_heads {}",
                self.hidden_size,
                self.num_attention_heads,
                self.kv_heads()
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Some(format!("odd head dimension {}", self.head_dim()));
        }
        match &self.rope_scaling {
            None | Some(serde_json::Value::Null) => {}
            Some(v) => {
                let kind = v
                    .get("type")
                    .or_else(|| v.get("rope_type"))
                    .and_then(|t| t.as_str())
                    .unwrap_or("?");
                if kind != "default" {
                    return Some(format!("rope_scaling {kind:?} (only unscaled RoPE)"));
                }
            }
        }
        if self.use_sliding_window {
            return Some("use_sliding_window = true".into());
        }
        None
    }

    /// Qwen2.5-0.5B's shape (for benchmarks with random weights).
    pub fn qwen25_0_5b() -> Self {
        Qwen2Config {
            vocab_size: 151_936,
            hidden_size: 896,
            intermediate_size: 4864,
            num_hidden_layers: 24,
            num_attention_heads: 14,
            num_key_value_heads: Some(2),
            max_position_embeddings: 32768,
            rope_theta: 1_000_000.0,
            rms_norm_eps: 1e-6,
            tie_word_embeddings: true,
            hidden_act: "silu".into(),
            rope_scaling: None,
            use_sliding_window: false,
        }
    }
}

/// Write a model of shape `cfg` with random weights (candle-nn's default initialisers) as a
/// Hugging Face directory: `config.json` and `model.safetensors` in `dtype` (the tokenizer is
/// left to the caller). For benchmarks and tests.
pub fn write_random(dir: &std::path::Path, cfg: &Qwen2Config, dtype: DType) -> Result<()> {
    let vm = candle_nn::VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, dtype, &Device::Cpu);
    Qwen2::new(cfg, 8, vb)?;
    std::fs::create_dir_all(dir)?;
    vm.save(dir.join("model.safetensors"))?;
    let mut config = serde_json::to_value(cfg).map_err(candle_core::Error::wrap)?;
    config["architectures"] = serde_json::json!(["Qwen2ForCausalLM"]);
    config["model_type"] = "qwen2".into();
    config["torch_dtype"] = format!("{dtype:?}").to_lowercase().into();
    std::fs::write(dir.join("config.json"), config.to_string())?;
    Ok(())
}

#[derive(Debug, Clone)]
struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    gate: Linear,
    up: Linear,
    down: Linear,
    ln_attn: RmsNorm,
    ln_mlp: RmsNorm,
    cache: Option<(Tensor, Tensor)>,
}

/// A Qwen2 causal LM with its KV cache.
#[derive(Debug, Clone)]
pub struct Qwen2 {
    cfg: Qwen2Config,
    embed: Embedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    lm_head: Linear,
    cos: Tensor,
    sin: Tensor,
    dtype: DType,
    device: Device,
    max_positions: usize,
}

fn linear(i: usize, o: usize, bias: bool, vb: VarBuilder) -> Result<Linear> {
    if bias {
        candle_nn::linear_b(i, o, true, vb)
    } else {
        candle_nn::linear_no_bias(i, o, vb)
    }
}

impl Qwen2 {
    /// Build from `vb` (weights named as in Hugging Face checkpoints). `max_positions` sizes the
    /// rotary tables (the context window actually used).
    pub fn new(cfg: &Qwen2Config, max_positions: usize, vb: VarBuilder) -> Result<Self> {
        let h = cfg.hidden_size;
        let hd = cfg.head_dim();
        let (nh, nkv) = (cfg.num_attention_heads, cfg.kv_heads());
        let vm = vb.pp("model");
        let embed = candle_nn::embedding(cfg.vocab_size, h, vm.pp("embed_tokens"))?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let vl = vm.pp("layers").pp(i);
            let va = vl.pp("self_attn");
            let vmlp = vl.pp("mlp");
            layers.push(Layer {
                q: linear(h, nh * hd, true, va.pp("q_proj"))?,
                k: linear(h, nkv * hd, true, va.pp("k_proj"))?,
                v: linear(h, nkv * hd, true, va.pp("v_proj"))?,
                o: linear(nh * hd, h, false, va.pp("o_proj"))?,
                gate: linear(h, cfg.intermediate_size, false, vmlp.pp("gate_proj"))?,
                up: linear(h, cfg.intermediate_size, false, vmlp.pp("up_proj"))?,
                down: linear(cfg.intermediate_size, h, false, vmlp.pp("down_proj"))?,
                ln_attn: candle_nn::rms_norm(h, cfg.rms_norm_eps, vl.pp("input_layernorm"))?,
                ln_mlp: candle_nn::rms_norm(
                    h,
                    cfg.rms_norm_eps,
                    vl.pp("post_attention_layernorm"),
                )?,
                cache: None,
            });
        }
        let norm = candle_nn::rms_norm(h, cfg.rms_norm_eps, vm.pp("norm"))?;
        let lm_head = if cfg.tie_word_embeddings {
            Linear::new(embed.embeddings().clone(), None)
        } else {
            candle_nn::linear_no_bias(h, cfg.vocab_size, vb.pp("lm_head"))?
        };
        let device = vb.device().clone();
        let inv_freq: Vec<f32> = (0..hd)
            .step_by(2)
            .map(|i| 1f32 / cfg.rope_theta.powf(i as f64 / hd as f64) as f32)
            .collect();
        let n_freq = inv_freq.len();
        let inv_freq = Tensor::from_vec(inv_freq, (1, n_freq), &device)?;
        let t = Tensor::arange(0u32, max_positions as u32, &device)?
            .to_dtype(DType::F32)?
            .reshape((max_positions, 1))?;
        let freqs = t.matmul(&inv_freq)?;
        let dtype = vb.dtype();
        Ok(Qwen2 {
            cfg: cfg.clone(),
            embed,
            layers,
            norm,
            lm_head,
            cos: freqs.cos()?.to_dtype(dtype)?,
            sin: freqs.sin()?.to_dtype(dtype)?,
            dtype,
            device,
            max_positions,
        })
    }

    pub fn config(&self) -> &Qwen2Config {
        &self.cfg
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Tokens held in the KV cache.
    pub fn cached_len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.cache.as_ref())
            .map_or(0, |(k, _)| k.dim(2).unwrap_or(0))
    }

    pub fn clear_cache(&mut self) {
        for l in &mut self.layers {
            l.cache = None;
        }
    }

    /// Keep only the first `len` cached positions.
    pub fn truncate_cache(&mut self, len: usize) -> Result<()> {
        if len == 0 {
            self.clear_cache();
            return Ok(());
        }
        for l in &mut self.layers {
            if let Some((k, v)) = &l.cache {
                let have = k.dim(2)?;
                if len < have {
                    l.cache = Some((k.narrow(2, 0, len)?, v.narrow(2, 0, len)?));
                }
            }
        }
        Ok(())
    }

    /// Run `ids` (positions `cached_len()..`) through the model, extending the cache. Returns f32
    /// logits: `(ids.len(), vocab)` with `all_positions`, else `(1, vocab)` for the last one.
    pub fn forward(&mut self, ids: &[u32], all_positions: bool) -> Result<Tensor> {
        let offset = self.cached_len();
        let seq = ids.len();
        if seq == 0 {
            candle_core::bail!("no tokens to run");
        }
        if offset + seq > self.max_positions {
            candle_core::bail!(
                "position {} is past the {}-token window",
                offset + seq,
                self.max_positions
            );
        }
        let input = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
        let mut x = self.embed.forward(&input)?;
        let mask = if seq > 1 {
            Some(causal_mask(seq, offset, &self.device)?)
        } else {
            None
        };
        let cos = self.cos.narrow(0, offset, seq)?;
        let sin = self.sin.narrow(0, offset, seq)?;
        let (nh, nkv, hd) = (
            self.cfg.num_attention_heads,
            self.cfg.kv_heads(),
            self.cfg.head_dim(),
        );
        for layer in &mut self.layers {
            let residual = x.clone();
            let h = layer.ln_attn.forward(&x)?;
            let q = layer
                .q
                .forward(&h)?
                .reshape((1, seq, nh, hd))?
                .transpose(1, 2)?
                .contiguous()?;
            let k = layer
                .k
                .forward(&h)?
                .reshape((1, seq, nkv, hd))?
                .transpose(1, 2)?
                .contiguous()?;
            let v = layer
                .v
                .forward(&h)?
                .reshape((1, seq, nkv, hd))?
                .transpose(1, 2)?
                .contiguous()?;
            let q = candle_nn::rotary_emb::rope(&q, &cos, &sin)?;
            let k = candle_nn::rotary_emb::rope(&k, &cos, &sin)?;
            let (k, v) = match &layer.cache {
                None => (k, v),
                Some((pk, pv)) => (Tensor::cat(&[pk, &k], 2)?, Tensor::cat(&[pv, &v], 2)?),
            };
            layer.cache = Some((k.clone(), v.clone()));
            let k = repeat_kv(k, nh / nkv)?;
            let v = repeat_kv(v, nh / nkv)?;
            let scale = 1.0 / (hd as f64).sqrt();
            let scores = (q.matmul(&k.t()?)? * scale)?.to_dtype(DType::F32)?;
            let scores = match &mask {
                Some(m) => scores.broadcast_add(m)?,
                None => scores,
            };
            let probs = candle_nn::ops::softmax_last_dim(&scores)?.to_dtype(self.dtype)?;
            let attn = probs
                .matmul(&v)?
                .transpose(1, 2)?
                .reshape((1, seq, nh * hd))?;
            let x1 = (layer.o.forward(&attn)? + residual)?;
            let h = layer.ln_mlp.forward(&x1)?;
            let gate = candle_nn::ops::silu(&layer.gate.forward(&h)?)?;
            let mlp = layer.down.forward(&(gate * layer.up.forward(&h)?)?)?;
            x = (x1 + mlp)?;
        }
        let x = if all_positions {
            x
        } else {
            x.narrow(1, seq - 1, 1)?
        };
        let x = self.norm.forward(&x)?;
        let logits = self.lm_head.forward(&x)?.squeeze(0)?;
        logits.to_dtype(DType::F32)
    }
}

/// `(1, 1, seq, offset + seq)` additive f32 mask: query `i` (position `offset + i`) sees keys
/// `0..=offset + i`.
fn causal_mask(seq: usize, offset: usize, device: &Device) -> Result<Tensor> {
    let kv = offset + seq;
    let mask: Vec<f32> = (0..seq)
        .flat_map(|i| {
            (0..kv).map(move |j| {
                if j > offset + i {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect();
    Tensor::from_vec(mask, (1, 1, seq, kv), device)
}

fn repeat_kv(x: Tensor, n_rep: usize) -> Result<Tensor> {
    if n_rep == 1 {
        return Ok(x);
    }
    let (b, n_kv, seq, hd) = x.dims4()?;
    // (b, n_kv, seq, hd) -> (b, n_kv, n_rep, seq, hd) -> (b, n_kv * n_rep, seq, hd): query head
    // h reads key/value head h / n_rep, as in Hugging Face's repeat_kv.
    x.unsqueeze(2)?
        .broadcast_as((b, n_kv, n_rep, seq, hd))?
        .contiguous()?
        .reshape((b, n_kv * n_rep, seq, hd))
}
