//! Every exit code of `protege`, named once (README, "Exit codes", lists the same).

use std::process::ExitCode;

use protege_harness::stop::StopSignal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done (whatever the Pass@1).
    Success,
    /// A check said no or some of the work failed: `compare` found a significant drop, `datasets
    /// verify` rejected rows, an image could not be built or pulled,
    /// `replay-trajectory` did not reproduce the patch.
    Failed,
    /// Bad input or no engine; one `error:` line says what and how to fix it (clap's usage
    /// errors exit with the same code).
    Error,
    /// Some instance hit an infrastructure error; rerunning retries it.
    InfraErrors,
    /// Stopped by a signal: 128 + its number (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).
    Stopped(StopSignal),
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::Error => 2,
            Exit::InfraErrors => 3,
            Exit::Stopped(s) => 128 + s.number() as u8,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_codes_are_the_shells() {
        // What a shell reports for a process the signal killed; scripts test for these.
        assert_eq!(Exit::Stopped(StopSignal::Interrupt).code(), 130);
        assert_eq!(Exit::Stopped(StopSignal::Terminate).code(), 143);
        assert_eq!(Exit::Stopped(StopSignal::Hangup).code(), 129);
    }
}
