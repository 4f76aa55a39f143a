//! Log parsers: test output → test name → status. One module per log format.

pub mod pytest;

use crate::grading::report::StatusMap;

/// Which parser reads a repository's test log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogParser {
    Pytest,
}

impl LogParser {
    pub fn parse(self, log: &str) -> StatusMap {
        match self {
            LogParser::Pytest => pytest::parse(log),
        }
    }
}
