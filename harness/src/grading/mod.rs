//! Grading: patch checks and application, and the official rules that turn a log into a report.

pub mod report;
