use std::time::Duration;

/// How to run one command.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub timeout: Duration,
    /// Working directory inside the sandbox (default `/testbed`).
    pub workdir: String,
    pub env: Vec<(String, String)>,
    /// Output beyond this many bytes is dropped and a marker says so.
    pub output_limit: usize,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            timeout: Duration::from_secs(1800),
            workdir: "/testbed".into(),
            env: Vec::new(),
            output_limit: 64 << 20,
        }
    }
}

impl ExecOptions {
    pub fn with_timeout(timeout: Duration) -> Self {
        ExecOptions {
            timeout,
            ..Default::default()
        }
    }
}

/// What a command did. stdout and stderr are interleaved in arrival order, as a log shows them.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    /// `None` when the command was killed at its deadline.
    pub exit_code: Option<i64>,
    pub output: String,
    pub timed_out: bool,
    pub truncated: bool,
    pub duration: Duration,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }
}

/// Whether the memory cgroup of the sandbox (v2 `memory.events`, v1 `memory.oom_control`)
/// counts an OOM kill: a test process killed at the limit while the sandbox itself lives on.
pub async fn oom_probe(sandbox: &dyn crate::Sandbox) -> bool {
    let probe =
        "cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null";
    match sandbox
        .exec(probe, &ExecOptions::with_timeout(Duration::from_secs(10)))
        .await
    {
        Ok(out) => out.output.lines().any(|l| {
            l.strip_prefix("oom_kill ")
                .and_then(|n| n.trim().parse::<u64>().ok())
                .is_some_and(|n| n > 0)
        }),
        Err(_) => false,
    }
}

/// The marker appended where output was cut at its size limit.
pub const TRUNCATION_MARKER: &str = "\n[protege: output truncated at the size limit]\n";

/// Appends `chunk` to `out` without exceeding `limit` bytes; returns true once truncated.
pub fn push_capped(out: &mut Vec<u8>, chunk: &[u8], limit: usize, truncated: &mut bool) {
    if *truncated {
        return;
    }
    let room = limit.saturating_sub(out.len());
    if chunk.len() <= room {
        out.extend_from_slice(chunk);
    } else {
        out.extend_from_slice(&chunk[..room]);
        out.extend_from_slice(TRUNCATION_MARKER.as_bytes());
        *truncated = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_output_with_marker() {
        let mut out = Vec::new();
        let mut t = false;
        push_capped(&mut out, b"hello", 8, &mut t);
        push_capped(&mut out, b"world", 8, &mut t);
        push_capped(&mut out, b"more", 8, &mut t);
        assert!(t);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("hellowor{TRUNCATION_MARKER}")
        );
    }
}
