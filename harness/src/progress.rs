//! The progress display, a consumer of run events: bars (a run bar, and a spinner per instance
//! in flight showing what its policy is doing) when stderr is a terminal, else one line per
//! event, so a long agent run is visible in CI logs and under `nohup` step by step.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use protege_policies::trajectory::Actor;

use crate::events::{EventSink, RunEvent};

enum Mode {
    Bars(Bars),
    Lines,
    Quiet,
}

struct Bars {
    multi: MultiProgress,
    main: Mutex<Option<ProgressBar>>,
    spinners: Mutex<HashMap<String, ProgressBar>>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    done: usize,
    resolved: usize,
}

pub struct ProgressDisplay {
    mode: Mode,
    counts: Mutex<Counts>,
}

impl ProgressDisplay {
    /// Bars when stderr is a terminal, lines otherwise; nothing when `quiet`.
    pub fn for_stderr(quiet: bool) -> ProgressDisplay {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bars(Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                main: Mutex::default(),
                spinners: Mutex::default(),
            })
        } else {
            Mode::Lines
        };
        ProgressDisplay {
            mode,
            counts: Mutex::default(),
        }
    }

    /// `[n/total] id: outcome (…)` for an instance that is finished, counting it.
    fn finished_line(&self, id: &str, outcome: &str, resolved: bool, how: String) -> String {
        let mut c = self.counts.lock().expect("lock");
        c.done += 1;
        c.resolved += usize::from(resolved);
        format!("[{}/{}] {id}: {outcome} ({how})", c.done, c.total)
    }
}

/// What an event says about an instance in flight, in a few words; `None` for the others.
fn activity(event: &RunEvent) -> Option<String> {
    Some(match event {
        RunEvent::InstanceStarted { .. } => "starting".into(),
        RunEvent::ImageReady { image, ms, .. } => {
            format!("image {image} ready ({:.1} s)", secs(*ms))
        }
        RunEvent::ImagePulled {
            image,
            ms,
            attempts,
            bytes,
            ahead,
            ..
        } => format!(
            "image {image} pulled{} ({:.1} s, {:.0} MB{})",
            if *ahead { " ahead" } else { "" },
            secs(*ms),
            *bytes as f64 / 1e6,
            if *attempts > 1 {
                format!(", {attempts} attempts")
            } else {
                String::new()
            }
        ),
        RunEvent::ImagePullRetry {
            image,
            attempt,
            wait_ms,
            reason,
            ..
        } => format!(
            "pull {attempt} of {image} refused ({reason}); again in {:.1} s",
            secs(*wait_ms)
        ),
        RunEvent::PolicyStep {
            step,
            actor,
            tokens_in,
            tokens_out,
            ms,
            action,
            ..
        } => format!(
            "step {step} ({}, {tokens_in}+{tokens_out} tokens, {:.1} s): {action}",
            match actor {
                Actor::Slm => "slm",
                Actor::Expert => "expert",
            },
            secs(*ms)
        ),
        RunEvent::PolicyStage {
            stage,
            model_calls,
            tokens_in,
            tokens_out,
            ms,
            note,
            ..
        } => format!(
            "stage {stage} ({model_calls} calls, {tokens_in}+{tokens_out} tokens, {:.1} s){}",
            secs(*ms),
            if note.is_empty() {
                String::new()
            } else {
                format!(": {note}")
            }
        ),
        RunEvent::PolicyFinished {
            ms,
            patch_bytes,
            note,
            ..
        } => format!(
            "policy done ({:.1} s, {}){}; grading",
            secs(*ms),
            match patch_bytes {
                Some(n) => format!("{n}-byte patch"),
                None => "no patch".into(),
            },
            note.as_deref()
                .map(|n| format!(", {n}"))
                .unwrap_or_default()
        ),
        RunEvent::InfraError { kind, message, .. } => {
            format!("infrastructure error ({kind}): {message}")
        }
        _ => return None,
    })
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

impl EventSink for ProgressDisplay {
    fn emit(&self, event: &RunEvent) {
        if let RunEvent::RunStarted { instances, .. } = event {
            self.counts.lock().expect("lock").total = *instances;
        }
        // The line an event leaves in the log (bars print only those of finished instances).
        let finished = match event {
            RunEvent::Graded {
                instance_id,
                verdict,
                wall_ms,
                ..
            } => Some(self.finished_line(
                instance_id,
                verdict.outcome.as_str(),
                verdict.resolved(),
                format!("{:.1} s", secs(*wall_ms)),
            )),
            RunEvent::Kept {
                instance_id,
                verdict,
            } => Some(self.finished_line(
                instance_id,
                verdict.outcome.as_str(),
                verdict.resolved(),
                "kept from an earlier run".into(),
            )),
            RunEvent::Cancelled { signal } => Some(format!(
                "stopping ({}): removing containers; finished records are kept",
                signal.name()
            )),
            _ => None,
        };
        match &self.mode {
            Mode::Quiet => {}
            Mode::Lines => {
                let line = match (event, &finished, activity(event)) {
                    (_, Some(l), _) => l.clone(),
                    (_, None, Some(a)) => {
                        format!("  {}: {a}", event.instance_id().unwrap_or_default())
                    }
                    (
                        RunEvent::RunStarted {
                            run_id,
                            policy,
                            sandbox,
                            instances,
                            workers,
                        },
                        ..,
                    ) => format!(
                        "run {run_id}: {instances} instances, policy {policy}, sandbox {sandbox}, {workers} workers"
                    ),
                    (
                        RunEvent::RunFinished {
                            instances,
                            graded,
                            kept,
                            resolved,
                            ..
                        },
                        ..,
                    ) => format!(
                        "run finished: {graded} graded, {kept} kept, {resolved} of {instances} resolved"
                    ),
                    (RunEvent::ImageEvicted { image, bytes }, ..) => format!(
                        "image {image} removed for the disk budget ({:.0} MB)",
                        *bytes as f64 / 1e6
                    ),
                    _ => return,
                };
                eprintln!("{line}");
            }
            Mode::Bars(b) => self.draw(b, event, finished),
        }
    }
}

impl ProgressDisplay {
    fn draw(&self, b: &Bars, event: &RunEvent, finished: Option<String>) {
        match event {
            RunEvent::RunStarted { instances, .. } => {
                let bar = b.multi.add(ProgressBar::new(*instances as u64));
                bar.set_style(
                    ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ETA {eta}")
                        .expect("template"),
                );
                *b.main.lock().expect("lock") = Some(bar);
            }
            RunEvent::RunFinished { .. } => {
                for (_, s) in b.spinners.lock().expect("lock").drain() {
                    s.finish_and_clear();
                    b.multi.remove(&s);
                }
                if let Some(m) = b.main.lock().expect("lock").take() {
                    m.finish_and_clear();
                }
            }
            _ => {}
        }
        let Some(id) = event.instance_id() else {
            if let Some(line) = finished {
                b.multi.println(line).ok();
            }
            return;
        };
        if let Some(line) = finished {
            if let Some(s) = b.spinners.lock().expect("lock").remove(id) {
                s.finish_and_clear();
                b.multi.remove(&s);
            }
            if let Some(m) = b.main.lock().expect("lock").as_ref() {
                m.inc(1);
                let resolved = self.counts.lock().expect("lock").resolved;
                m.set_message(format!("resolved {resolved}"));
            }
            b.multi.println(line).ok();
        } else if let Some(a) = activity(event) {
            // An image pulled ahead belongs to an instance no worker has yet: no spinner.
            if matches!(event, RunEvent::ImagePulled { ahead: true, .. }) {
                return;
            }
            let mut spinners = b.spinners.lock().expect("lock");
            let s = spinners.entry(id.to_string()).or_insert_with(|| {
                let s = b.multi.add(ProgressBar::new_spinner());
                s.set_style(ProgressStyle::with_template("  {spinner} {msg}").expect("template"));
                s.enable_steady_tick(Duration::from_millis(200));
                s
            });
            s.set_message(format!("{id}: {a}"));
        }
    }
}
