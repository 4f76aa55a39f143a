//! The signals that stop a run: Ctrl-C (SIGINT), SIGTERM (what `timeout`, CI runners, systemd
//! and Kubernetes send) and SIGHUP (a closed terminal). All three stop a run the same way —
//! containers removed, finished records kept — and only the exit code says which one it was.

use serde::Serialize;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Which signal stopped a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StopSignal {
    #[serde(rename = "SIGINT")]
    Interrupt,
    #[serde(rename = "SIGTERM")]
    Terminate,
    #[serde(rename = "SIGHUP")]
    Hangup,
}

impl StopSignal {
    /// The signal's POSIX number (the shell's exit status of a process it killed is 128 + it).
    pub fn number(self) -> i32 {
        match self {
            StopSignal::Interrupt => libc_consts::SIGINT,
            StopSignal::Terminate => libc_consts::SIGTERM,
            StopSignal::Hangup => libc_consts::SIGHUP,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
            StopSignal::Hangup => "SIGHUP",
        }
    }
}

/// POSIX fixes these three numbers on every platform protege runs on.
mod libc_consts {
    pub const SIGHUP: i32 = 1;
    pub const SIGINT: i32 = 2;
    pub const SIGTERM: i32 = 15;
}

/// The three stop signals, listened to from creation on: a signal that arrives before
/// [`StopSignals::recv`] is polled is kept, not lost (and no longer kills the process).
pub struct StopSignals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl StopSignals {
    pub fn install() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next stop signal.
    pub async fn recv(&mut self) -> StopSignal {
        tokio::select! {
            _ = self.int.recv() => StopSignal::Interrupt,
            _ = self.term.recv() => StopSignal::Terminate,
            _ = self.hup.recv() => StopSignal::Hangup,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_signals() {
        for s in [
            StopSignal::Interrupt,
            StopSignal::Terminate,
            StopSignal::Hangup,
        ] {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.name())
            );
        }
    }
}
