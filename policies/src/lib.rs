//! Policies: what produces a patch for a task.
