//! SWE-bench (Verified, Lite, the built-in mini set, and any file in SWE-bench's schema): the
//! trait's defaults are its rules, so this module only names it.

use super::TaskSetRules;

/// The rules of every task whose `set` is empty.
pub struct SweBench;

impl TaskSetRules for SweBench {
    fn name(&self) -> &'static str {
        "swe-bench"
    }

    fn about(&self) -> &'static str {
        "SWE-bench's schema, images and grading (Verified, Lite, mini, or a file in its schema)"
    }
}
