//! Unified diffs: parsing (`parse`), the safety check every patch passes before it reaches a
//! sandbox (`check`), application to a directory without git (`apply`), and the git-style
//! writer (`write`). A leaf crate (pure code) so the harness and the policies share one of each.

pub mod apply;
pub mod check;
pub mod parse;
pub mod write;

pub use check::{PatchProblem, check};
pub use parse::{FilePatch, Hunk, HunkLine, parse};
