//! Sandboxes: where patches are applied and tests run.
