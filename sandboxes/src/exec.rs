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

/// Prints the memory cgroup's counters (v2 `memory.events`, v1 `memory.oom_control`).
const OOM_COUNTERS: &str =
    "cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null";

/// Where [`with_oom_counters`] output begins after a command's own.
const OOM_MARK: &str = "\n[protege: memory cgroup counters]\n";

/// Whether counters as [`OOM_COUNTERS`] prints them count an OOM kill.
fn counts_oom_kill(counters: &str) -> bool {
    counters.lines().any(|l| {
        l.strip_prefix("oom_kill ")
            .and_then(|n| n.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0)
    })
}

/// Whether the memory cgroup of the sandbox counts an OOM kill: a test process killed at the
/// limit while the sandbox itself lives on.
pub async fn oom_probe(sandbox: &dyn crate::Sandbox) -> bool {
    match sandbox
        .exec(
            OOM_COUNTERS,
            &ExecOptions::with_timeout(Duration::from_secs(10)),
        )
        .await
    {
        Ok(out) => counts_oom_kill(&out.output),
        Err(_) => false,
    }
}

/// `command` followed, behind a marker, by the memory cgroup's counters, keeping its exit
/// code: one exec runs the tests and says whether the kernel killed one of them, where a
/// second would cost an engine round trip per instance. The command's stderr joins its stdout
/// at the source: the engines carry the two streams apart and may deliver late stderr after the
/// marker, which would cut it off the log.
pub fn with_oom_counters(command: &str) -> String {
    format!(
        "{{ {command}\n}} 2>&1\n__protege_rc=$?; printf '%s' '{OOM_MARK}'; {OOM_COUNTERS}; exit $__protege_rc"
    )
}

/// Splits the output of a [`with_oom_counters`] command: the command's own output and whether
/// the counters count an OOM kill, `None` when they are missing (the output was cut at its
/// size limit, or the command was stopped before them).
pub fn split_oom_counters(mut output: String) -> (String, Option<bool>) {
    match output.rfind(OOM_MARK) {
        Some(i) => {
            let killed = counts_oom_kill(&output[i + OOM_MARK.len()..]);
            output.truncate(i);
            (output, Some(killed))
        }
        None => (output, None),
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

    /// Run by a real bash: the command's own output comes back byte for byte (no newline
    /// added), its exit code is kept, and the counters are read after it.
    #[test]
    fn a_command_with_the_counters_keeps_its_output_and_exit_code() {
        let o = std::process::Command::new("bash")
            .args([
                "-c",
                &with_oom_counters("(printf 'a\\nb'; printf 'c' >&2; exit 3)"),
            ])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(3));
        // stderr came on stdout, before the counters
        assert!(o.stderr.is_empty());
        let (out, counted) = split_oom_counters(String::from_utf8(o.stdout).unwrap());
        assert_eq!(out, "a\nbc");
        assert!(counted.is_some());
    }

    #[test]
    fn counters_after_the_mark_say_whether_a_process_was_killed() {
        let killed = format!("log\n{OOM_MARK}low 0\noom 1\noom_kill 2\n");
        assert_eq!(split_oom_counters(killed), ("log\n".into(), Some(true)));
        let calm = format!("log{OOM_MARK}oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
        assert_eq!(split_oom_counters(calm), ("log".into(), Some(false)));
        // cut at the size limit before the counters: unknown, so the caller asks again
        let cut = format!("log{TRUNCATION_MARKER}");
        assert_eq!(split_oom_counters(cut.clone()), (cut, None));
    }
}
