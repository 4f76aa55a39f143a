//! One event stream for a run: the runner and `serve` say what happens as [`RunEvent`]s to an
//! [`EventSink`]; the progress display ([`crate::progress`]) and the JSON Lines file
//! ([`JsonLines`], `--events FILE|-`, documented field by field in `docs/events.md`) are sinks.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use protege_policies::progress::{Progress, ProgressSink};
use protege_policies::trajectory::Actor;
use protege_results::Verdict;
use serde::Serialize;

use crate::stop::StopSignal;

/// What happened. Serialised with its kind under `event` (`{"event": "graded", …}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    RunStarted {
        run_id: String,
        policy: String,
        sandbox: String,
        instances: usize,
        workers: usize,
    },
    /// A worker took the instance up.
    InstanceStarted { instance_id: String },
    /// The instance's environment is ready: its image (Docker) or the WASI module.
    ImageReady {
        instance_id: String,
        sandbox: String,
        image: String,
        ms: u64,
    },
    /// An image was pulled (`ahead`: for an instance not started yet, the look-ahead).
    ImagePulled {
        instance_id: String,
        image: String,
        ms: u64,
        attempts: usize,
        bytes: u64,
        ahead: bool,
    },
    /// A pull the registry refused with 429 or 5xx is tried again after `wait_ms`.
    ImagePullRetry {
        instance_id: String,
        image: String,
        /// The attempt that failed, 1-based.
        attempt: usize,
        wait_ms: u64,
        reason: String,
    },
    /// An instance image was removed to stay within `--disk-budget`.
    ImageEvicted { image: String, bytes: u64 },
    /// An agent took a step.
    PolicyStep {
        instance_id: String,
        /// 1-based, counting the expert's steps too.
        step: usize,
        actor: Actor,
        tokens_in: u64,
        tokens_out: u64,
        ms: u64,
        /// The action's first line, at most 100 characters (`advice` for the expert).
        action: String,
    },
    /// A stage of a staged policy (agentless) ended.
    PolicyStage {
        instance_id: String,
        stage: String,
        model_calls: u64,
        tokens_in: u64,
        tokens_out: u64,
        ms: u64,
        note: String,
    },
    /// The policy is done with the instance; grading comes next.
    PolicyFinished {
        instance_id: String,
        ms: u64,
        /// `None`: no patch.
        patch_bytes: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Graded now; `verdict` is the one its record holds.
    Graded {
        instance_id: String,
        verdict: Verdict,
        wall_ms: u64,
        test_ms: u64,
    },
    /// Its record from an earlier run of the same inputs is kept; nothing was redone.
    Kept {
        instance_id: String,
        verdict: Verdict,
    },
    /// The harness could not evaluate the attempt (the `graded` event follows, for runs).
    InfraError {
        instance_id: String,
        kind: String,
        message: String,
    },
    /// A stop signal arrived: instances not finished are abandoned, their containers removed.
    Cancelled { signal: StopSignal },
    RunFinished {
        instances: usize,
        graded: usize,
        kept: usize,
        resolved: usize,
        cancelled: bool,
    },
}

impl RunEvent {
    /// The instance the event is about, if one.
    pub fn instance_id(&self) -> Option<&str> {
        match self {
            RunEvent::InstanceStarted { instance_id }
            | RunEvent::ImageReady { instance_id, .. }
            | RunEvent::ImagePulled { instance_id, .. }
            | RunEvent::ImagePullRetry { instance_id, .. }
            | RunEvent::PolicyStep { instance_id, .. }
            | RunEvent::PolicyStage { instance_id, .. }
            | RunEvent::PolicyFinished { instance_id, .. }
            | RunEvent::Graded { instance_id, .. }
            | RunEvent::Kept { instance_id, .. }
            | RunEvent::InfraError { instance_id, .. } => Some(instance_id),
            RunEvent::RunStarted { .. }
            | RunEvent::ImageEvicted { .. }
            | RunEvent::Cancelled { .. }
            | RunEvent::RunFinished { .. } => None,
        }
    }
}

/// Where events go. `emit` is called from the workers' tasks: it must not block for long.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: &RunEvent);
}

/// Every event to each of several sinks, in order.
#[derive(Default)]
pub struct Fanout(pub Vec<Box<dyn EventSink>>);

impl EventSink for Fanout {
    fn emit(&self, event: &RunEvent) {
        for s in &self.0 {
            s.emit(event);
        }
    }
}

/// One JSON object per line, written and flushed per event, so a reader following the file (or
/// a run killed midway) only ever sees whole lines. Each line is the event's fields plus
/// `elapsed_ms` since the sink was made.
pub struct JsonLines {
    out: Mutex<Box<dyn Write + Send>>,
    started: Instant,
}

#[derive(Serialize)]
struct Line<'a> {
    elapsed_ms: u64,
    #[serde(flatten)]
    event: &'a RunEvent,
}

impl JsonLines {
    pub fn new(out: Box<dyn Write + Send>) -> JsonLines {
        JsonLines {
            out: Mutex::new(out),
            started: Instant::now(),
        }
    }
}

impl EventSink for JsonLines {
    fn emit(&self, event: &RunEvent) {
        let line = Line {
            elapsed_ms: self.started.elapsed().as_millis() as u64,
            event,
        };
        let mut text = serde_json::to_string(&line).expect("events serialise");
        text.push('\n');
        let mut out = self.out.lock().expect("events lock");
        // One write of the whole line, then flush: a kill between events leaves whole lines.
        // A full disk or a closed pipe must not stop the run: the records are what count.
        let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
    }
}

/// A policy's progress on one instance, as run events.
pub struct PolicyEvents {
    pub instance_id: String,
    pub sink: Arc<dyn EventSink>,
}

impl ProgressSink for PolicyEvents {
    fn report(&self, progress: Progress<'_>) {
        let event = match progress {
            Progress::Step { number, step } => RunEvent::PolicyStep {
                instance_id: self.instance_id.clone(),
                step: number,
                actor: step.actor,
                tokens_in: step.tokens_in,
                tokens_out: step.tokens_out,
                ms: step.ms,
                action: one_line(&step.action, 100),
            },
            Progress::Stage(s) => RunEvent::PolicyStage {
                instance_id: self.instance_id.clone(),
                stage: s.name.clone(),
                model_calls: s.model_calls,
                tokens_in: s.tokens_in,
                tokens_out: s.tokens_out,
                ms: s.ms,
                note: one_line(&s.note, 200),
            },
        };
        self.sink.emit(&event);
    }
}

/// The first non-empty line of `text`, cut to `max` characters (`…` marks a cut).
pub fn one_line(text: &str, max: usize) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    let line = line.unwrap_or("");
    if line.chars().count() <= max {
        line.to_string()
    } else {
        let mut s: String = line.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_are_one_tagged_object_each() {
        let buf = Shared::default();
        let sink = JsonLines::new(Box::new(buf.clone()));
        sink.emit(&RunEvent::Cancelled {
            signal: StopSignal::Terminate,
        });
        sink.emit(&RunEvent::PolicyFinished {
            instance_id: "a".into(),
            ms: 5,
            patch_bytes: None,
            note: None,
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], "cancelled");
        assert_eq!(lines[0]["signal"], "SIGTERM");
        assert!(lines[0]["elapsed_ms"].is_u64());
        assert_eq!(lines[1]["event"], "policy_finished");
        assert_eq!(lines[1]["patch_bytes"], serde_json::Value::Null);
        assert!(lines[1].get("note").is_none());
    }

    #[test]
    fn one_line_takes_the_first_line_and_cuts() {
        assert_eq!(one_line("\n  open a.py 10\nmore", 100), "open a.py 10");
        assert_eq!(one_line("abcdef", 4), "abc…");
        assert_eq!(one_line("", 4), "");
    }
}
