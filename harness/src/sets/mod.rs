//! Task sets: what differs between SWE-bench (Verified, Lite, Full, the mini set), SWE-Gym,
//! SWE-smith, SWE-rebench and R2E-Gym, behind one seam.
//!
//! Each set is one module implementing [`TaskSetRules`]: its public schema (row → [`Task`]),
//! where it is published, the image an instance runs in, the commands that make a fresh
//! container the task's start state, the eval script, the log parser and the grading rule. The
//! trait's default methods are SWE-bench's rules, so a set states only where it differs. The
//! rest of the harness asks [`for_task`] (by [`Task::set`]) and never names a set; adding a set
//! (SWE-bench Multilingual, SWE-PolyBench) is one new module and one line in [`ALL`].

pub mod diff;
pub mod full;
pub mod load;
pub mod r2e_gym;
pub mod swe_bench;
pub mod swe_gym;
pub mod swe_rebench;
pub mod swe_smith;
pub mod template;

use protege_datasets::Task;
use protege_datasets::hub::HubSplit;
use protege_results::{InfraError, InfraKind};
use protege_sandboxes::ContainerLimits;
use protege_sandboxes::names::official_name;
use serde_json::{Map, Value};

use crate::eval_script::test_section;
use crate::grading::report::{TestsStatus, is_resolved, tests_status};
use crate::grading::rules::Rules;
use crate::specs::{Spec, SpecError};
use protege_testlog::StatusMap;

/// Files and a command run in every fresh container of a task before anything else: the
/// workspace a policy acts in and each grading container. SWE-smith applies its bug patch here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// (path in the container, contents), written first.
    pub files: Vec<(String, String)>,
    /// Run with bash in `/testbed`; a non-zero exit is an infrastructure error (`setup_failed`).
    pub command: String,
    /// The command needs the network (SWE-smith's branch checkout): the container starts on
    /// it ([`limits_for`]) and is cut off it once the command has run.
    pub network: bool,
}

/// A graded test log: the report's `tests_status` (absent when the set's harness finds no test
/// output in the log) and whether the instance is resolved by the set's rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graded {
    pub tests_status: Option<TestsStatus>,
    pub resolved: bool,
}

/// What one task set does its own way. Defaults are SWE-bench's.
pub trait TaskSetRules: Send + Sync {
    /// The name `--dataset` takes and [`Task::set`] holds (`swe-bench` holds the empty name).
    fn name(&self) -> &'static str;

    /// One line for `datasets sets` and the docs.
    fn about(&self) -> &'static str;

    /// Where the set is published on the Hugging Face hub.
    fn hub(&self) -> Option<HubSplit> {
        None
    }

    /// True when a row of an unnamed file (`--dataset PATH`) is in this set's schema.
    fn detect(&self, _row: &Map<String, Value>) -> bool {
        false
    }

    /// One row of the set's public schema → a task (with [`Task::set`] naming this set).
    fn task_from_row(&self, row: &Value) -> Result<Task, String> {
        Task::from_json(row)
    }

    /// The task's spec: environment, test command, parser.
    fn spec(&self, task: &Task) -> Result<Spec, SpecError> {
        crate::specs::swe_bench_spec(task)
    }

    /// The image names an instance may run in, best first: the first one present locally is
    /// used, else the first one is pulled.
    fn images(&self, task: &Task) -> Vec<String> {
        vec![official_name(&task.instance_id)]
    }

    /// Commands that turn a fresh container into the task's start state.
    fn setup(&self, _task: &Task) -> Option<Setup> {
        None
    }

    /// Commands run only in the workspace a policy acts in, after [`TaskSetRules::setup`]
    /// (R2E-Gym: move the hidden tests out of the agent's way).
    fn workspace_setup(&self, _task: &Task) -> Option<String> {
        None
    }

    /// The script run after the model's patch applied; its output is `test_output.txt`.
    /// `rules` is the SWE-bench harness version `--grader` chose (5.x records the test command's
    /// exit code); a set with its own harness may ignore it.
    fn eval_script(&self, task: &Task, spec: &Spec, rules: Rules) -> String {
        crate::eval_script::swe_bench_eval_script(task, spec, rules)
    }

    /// The SWE-bench harness version the set's own harness is (or forks), whose rules grade its
    /// new runs under `--grader auto`.
    fn harness_rules(&self) -> Rules {
        Rules::CURRENT
    }

    /// True when the set's logs are graded by SWE-bench's official rules of the chosen version
    /// (`crate::grading::rules`); false when [`parse`](Self::parse) and
    /// [`grade`](Self::grade) are the set's own.
    fn official_grading(&self) -> bool {
        true
    }

    /// Test name → status from a whole test output; `None` when the set's harness would find
    /// no test output in it (then nothing is graded and the instance is not resolved).
    fn parse(&self, _task: &Task, spec: &Spec, log: &str) -> Option<StatusMap> {
        let status = spec.parser.parse(test_section(log));
        // the official grader's fallback: test output outside the markers (stderr)
        Some(if status.is_empty() {
            spec.parser.parse(log)
        } else {
            status
        })
    }

    /// The set's grading rule over a parsed log.
    fn grade(&self, task: &Task, status: &StatusMap) -> Graded {
        // Only sets with their own rules reach this (see `official_grading`); SWE-bench's
        // version-independent core: SKIPPED on neither side.
        let ts = tests_status(task, status, Rules::Swebench4);
        Graded {
            resolved: is_resolved(&ts),
            tests_status: Some(ts),
        }
    }

    /// False when the set's own `report.json` never sets `patch_successfully_applied` (SWE-smith
    /// writes `false` whatever happened), so regrade does not compare that flag.
    fn reports_patch_applied(&self) -> bool {
        true
    }
}

/// Every set, in the order `datasets sets` lists them. [`swe_bench::SweBench`] first: it is the
/// rules of every task whose `set` is empty.
pub const ALL: &[&dyn TaskSetRules] = &[
    &swe_bench::SweBench,
    &full::Full,
    &swe_gym::SweGym,
    &swe_gym::SWE_GYM_LITE,
    &swe_smith::SweSmith,
    &swe_rebench::SweRebench,
    &r2e_gym::R2eGym,
];

/// The rules of a set by the name `--dataset` takes.
pub fn by_name(name: &str) -> Option<&'static dyn TaskSetRules> {
    ALL.iter().copied().find(|s| s.name() == name)
}

/// The rules that grade a task: those its `set` names; SWE-bench's for the empty name (and for
/// a name this protege does not know, which only a record from a newer protege could hold).
pub fn for_task(task: &Task) -> &'static dyn TaskSetRules {
    if task.set.is_empty() {
        return &swe_bench::SweBench;
    }
    by_name(&task.set).unwrap_or(&swe_bench::SweBench)
}

/// The rules `--grader auto` grades new runs of `tasks` by: their set's own harness version, or
/// the current official rules when the tasks come from sets that disagree.
pub fn harness_rules(tasks: &[Task]) -> Rules {
    let mut rules = tasks.iter().map(|t| for_task(t).harness_rules());
    let first = rules.next().unwrap_or(Rules::CURRENT);
    if rules.all(|r| r == first) {
        first
    } else {
        Rules::CURRENT
    }
}

/// The set whose schema an unnamed row follows (SWE-bench's when no set claims it).
pub fn detect(row: &Value) -> &'static dyn TaskSetRules {
    let Some(obj) = row.as_object() else {
        return &swe_bench::SweBench;
    };
    ALL.iter()
        .copied()
        .find(|s| s.detect(obj))
        .unwrap_or(&swe_bench::SweBench)
}

/// The image names to look for (see [`TaskSetRules::images`]); `--image-template` replaces
/// them with the one it renders ([`template`]).
pub fn image_names(task: &Task) -> Vec<String> {
    if let Some(image) = task.extra_str(template::IMAGE_KEY) {
        return vec![image.to_string()];
    }
    for_task(task).images(task)
}

/// The limits a task's containers start with: `limits`, with the network on when the task's
/// [`Setup`] needs it (only while it runs: [`run_setup`] cuts it off).
pub fn limits_for(task: &Task, limits: &ContainerLimits) -> ContainerLimits {
    let mut l = limits.clone();
    // on the default bridge whatever grading's network is: `run_setup` disconnects it after the
    // set-up, so such a task's evaluation has no network (not even `--grading-network index`)
    if for_task(task).setup(task).is_some_and(|s| s.network) {
        l.network = protege_sandboxes::Network::Open;
    }
    l
}

/// Runs a task's [`Setup`] (and, for a workspace, [`TaskSetRules::workspace_setup`]) in a
/// fresh container started with [`limits_for`]'s limits. `Err((kind, message))`: an
/// infrastructure error, the output included.
pub async fn run_setup(
    sandbox: &dyn protege_sandboxes::Sandbox,
    task: &Task,
    workspace: bool,
) -> Result<(), InfraError> {
    use protege_sandboxes::ExecOptions;
    let rules = for_task(task);
    let mut commands = Vec::new();
    let setup = rules.setup(task);
    if let Some(setup) = &setup {
        for (path, contents) in &setup.files {
            sandbox
                .write_file(path, contents.as_bytes())
                .await
                .map_err(|e| crate::grading::infra_error(&e))?;
        }
        commands.push(setup.command.clone());
    }
    if workspace && let Some(c) = rules.workspace_setup(task) {
        commands.push(c);
    }
    for (i, command) in commands.into_iter().enumerate() {
        let opts = ExecOptions::with_timeout(std::time::Duration::from_secs(300));
        let out = sandbox
            .exec(&command, &opts)
            .await
            .map_err(|e| crate::grading::infra_error(&e))?;
        if !out.success() {
            return Err(InfraError::new(
                InfraKind::SetupFailed,
                format!(
                    "{} set-up of {} failed (exit {:?}): {command}\n{}",
                    rules.name(),
                    task.instance_id,
                    out.exit_code,
                    out.output
                ),
            ));
        }
        // nothing after the set's own set-up gets the network it needed
        if i == 0 && setup.as_ref().is_some_and(|s| s.network) {
            sandbox
                .disconnect_network()
                .await
                .map_err(|e| crate::grading::infra_error(&e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        let mut names: Vec<&str> = ALL.iter().map(|s| s.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        for s in ALL {
            assert_eq!(by_name(s.name()).unwrap().name(), s.name());
        }
        assert!(by_name("nothing").is_none());
    }

    #[test]
    fn plain_rows_are_swe_bench() {
        let row = serde_json::json!({"instance_id": "a__b-1", "test_patch": "x"});
        assert_eq!(detect(&row).name(), "swe-bench");
        assert_eq!(detect(&serde_json::json!([1])).name(), "swe-bench");
    }
}
