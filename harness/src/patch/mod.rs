//! Unified diffs: parsing (`parse`), the safety check every patch passes before it reaches a
//! sandbox (`check`), application to a directory without git (`apply`).

pub mod apply;
pub mod check;
pub mod parse;

pub use check::{PatchProblem, check};
pub use parse::{FilePatch, Hunk, HunkLine, parse};
