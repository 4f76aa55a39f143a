//! Which backend runs a GGUF file, decided at run time for the processor at hand, and the
//! report of the kernels it uses (docs/lm.md).
//!
//! llama.cpp's CPU kernels are compiled for AVX2/FMA/F16C/BMI2 (`.cargo/config.toml`), never for
//! the build machine (`GGML_NATIVE` off: this project's build VM advertises AMX it cannot run).
//! They are entered only when the CPU reports every one of those features; otherwise the file
//! goes to candle, whose f32 path dispatches to SIMD at run time, so an x86-64 binary still runs
//! on a processor without AVX2 and says why it fell back.

use super::LmError;

/// The two local backends for GGUF files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Candle,
    Llama,
}

/// The instruction-set extensions the llama.cpp kernels of this build need, as the CPU reports
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuFeatures {
    pub x86_64: bool,
    pub avx: bool,
    pub avx2: bool,
    pub fma: bool,
    pub f16c: bool,
    pub bmi2: bool,
}

impl CpuFeatures {
    /// What this processor reports (cpuid), not what the binary was compiled for.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            CpuFeatures {
                x86_64: true,
                avx: std::arch::is_x86_feature_detected!("avx"),
                avx2: std::arch::is_x86_feature_detected!("avx2"),
                fma: std::arch::is_x86_feature_detected!("fma"),
                f16c: std::arch::is_x86_feature_detected!("f16c"),
                bmi2: std::arch::is_x86_feature_detected!("bmi2"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        CpuFeatures::default()
    }

    /// The features the llama.cpp kernels need that this CPU lacks (empty: it can run them).
    pub fn missing_for_llama(&self) -> Vec<&'static str> {
        if !self.x86_64 {
            return vec!["x86-64"];
        }
        [
            (self.avx, "avx"),
            (self.avx2, "avx2"),
            (self.fma, "fma"),
            (self.f16c, "f16c"),
            (self.bmi2, "bmi2"),
        ]
        .into_iter()
        .filter(|(has, _)| !has)
        .map(|(_, name)| name)
        .collect()
    }
}

/// The backend chosen for a file, and why, in words (logged, and shown in [`ModelInfo`]).
///
/// [`ModelInfo`]: super::candle::ModelInfo
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub backend: Backend,
    pub reason: String,
}

/// Whether this build has the llama.cpp backend (feature `llamacpp`).
pub const LLAMA_BUILT: bool = cfg!(feature = "llamacpp");

/// Pick the backend for a GGUF file: `requested` is `auto`, `llama`, `candle` or `None`
/// (`PROTEGE_LM_BACKEND`, else `auto`); `device` is the candle device spec (llama.cpp runs
/// here on the CPU only).
pub fn choose(
    requested: Option<&str>,
    device: Option<&str>,
    cpu: &CpuFeatures,
    llama_built: bool,
) -> Result<Choice, LmError> {
    let env = std::env::var("PROTEGE_LM_BACKEND").ok();
    let req = requested
        .or(env.as_deref())
        .unwrap_or("auto")
        .trim()
        .to_ascii_lowercase();
    let on_cpu = matches!(
        device.map(|d| d.trim().to_ascii_lowercase()).as_deref(),
        None | Some("cpu")
    );
    let missing = cpu.missing_for_llama();
    let why_not = if !llama_built {
        Some("this build has no llama.cpp (feature `llamacpp`)".to_string())
    } else if !on_cpu {
        Some(format!(
            "device {:?}: the llama.cpp backend runs on the CPU only",
            device.unwrap_or_default()
        ))
    } else if !missing.is_empty() {
        Some(format!(
            "this CPU lacks {} that the llama.cpp kernels of this build need",
            missing.join(", ")
        ))
    } else {
        None
    };
    match req.as_str() {
        "candle" => Ok(Choice {
            backend: Backend::Candle,
            reason: "candle (asked for)".into(),
        }),
        "llama" | "llama.cpp" | "llamacpp" => match why_not {
            None => Ok(Choice {
                backend: Backend::Llama,
                reason: "llama.cpp (asked for)".into(),
            }),
            Some(w) => Err(LmError::Unsupported(format!(
                "backend llama.cpp was asked for but {w}"
            ))),
        },
        "auto" | "" => Ok(match why_not {
            None => Choice {
                backend: Backend::Llama,
                reason: "llama.cpp (AVX2/FMA kernels, present on this CPU)".into(),
            },
            Some(w) => Choice {
                backend: Backend::Candle,
                reason: format!("candle, because {w}"),
            },
        }),
        other => Err(LmError::Request(format!(
            "unknown backend {other:?} (auto, llama, candle)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn haswell() -> CpuFeatures {
        CpuFeatures {
            x86_64: true,
            avx: true,
            avx2: true,
            fma: true,
            f16c: true,
            bmi2: true,
        }
    }

    fn sandybridge() -> CpuFeatures {
        CpuFeatures {
            avx2: false,
            fma: false,
            f16c: false,
            bmi2: false,
            ..haswell()
        }
    }

    #[test]
    fn auto_takes_llama_only_where_the_cpu_runs_its_kernels() {
        let c = choose(Some("auto"), None, &haswell(), true).unwrap();
        assert_eq!(c.backend, Backend::Llama);
        let c = choose(Some("auto"), None, &sandybridge(), true).unwrap();
        assert_eq!(c.backend, Backend::Candle);
        assert!(c.reason.contains("avx2, fma, f16c, bmi2"), "{}", c.reason);
        let c = choose(Some("auto"), Some("cuda"), &haswell(), true).unwrap();
        assert_eq!(c.backend, Backend::Candle);
        assert!(c.reason.contains("CPU only"), "{}", c.reason);
        let c = choose(None, None, &haswell(), false).unwrap();
        assert!(
            c.backend == Backend::Candle || std::env::var("PROTEGE_LM_BACKEND").is_ok(),
            "{c:?}"
        );
    }

    #[test]
    fn asking_for_llama_where_it_cannot_run_names_the_reason() {
        let e = choose(Some("llama"), None, &sandybridge(), true).unwrap_err();
        assert!(e.to_string().contains("lacks avx2"), "{e}");
        let e = choose(Some("llama"), None, &haswell(), false).unwrap_err();
        assert!(e.to_string().contains("feature `llamacpp`"), "{e}");
        let e = choose(
            Some("llama"),
            None,
            &CpuFeatures {
                x86_64: false,
                ..haswell()
            },
            true,
        )
        .unwrap_err();
        assert!(e.to_string().contains("x86-64"), "{e}");
        let e = choose(Some("tpu"), None, &haswell(), true).unwrap_err();
        assert!(e.to_string().contains("unknown backend \"tpu\""), "{e}");
        let c = choose(Some("candle"), None, &haswell(), true).unwrap();
        assert_eq!(c.backend, Backend::Candle);
    }
}
