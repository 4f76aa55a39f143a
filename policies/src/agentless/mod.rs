//! The Agentless-style baseline: a fixed pipeline with no agent loop, over the same
//! `LanguageModel` as the agent, so one model can be measured both ways.
//!
//! 1. `localize_files`: the model ranks files from the repository tree; fused with BM25.
//! 2. `localize_elements`: the model names classes, functions or lines from tree-sitter
//!    skeletons of the top files; BM25 over the elements where it names none.
//! 3. `repair`: N candidates (greedy first, then sampled with distinct seeds) in SEARCH/REPLACE
//!    form, each applied to the localized files, syntax-checked and turned into a unified diff.
//! 4. `reproduction`: the model writes a test from the issue; it counts only if it fails now.
//! 5. `validate`: related existing tests and the reproduction test, before and after each edit.
//! 6. `select`: majority vote over normalised patches, ties by validation, then order.
//!
//! Every model call is a step of the trajectory; every stage's calls, tokens, cost and wall time
//! are in `trajectory.stages`, and every candidate with its fate in `trajectory.candidates`.

pub mod edits;
pub mod localize;
pub mod repo;
pub mod retrieval;
pub mod select;
pub mod skeleton;
pub mod validate;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use protege_datasets::Task;
use protege_sandboxes::Sandbox;
use serde::{Deserialize, Serialize};

use self::localize::Location;
use self::repo::Repo;
use self::validate::TestRun;
use crate::lm::{GenParams, LanguageModel, Message};
use crate::progress::{Progress, ProgressSink, Silent};
use crate::trajectory::{Actor, Candidate, Stage, Step, Trajectory};
use crate::{Attempt, Policy, PolicyError};

/// Every knob of the pipeline; the `agentless` section of `--config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentlessConfig {
    /// Repair candidates: the first greedy, the rest sampled with seeds `seed + i`.
    pub candidates: usize,
    /// Files whose skeletons the element stage sees.
    pub top_files: usize,
    /// At most this many files in the tree shown to the model (the BM25 best when more).
    pub tree_files: usize,
    /// At most this many classes, functions or ranges handed to repair.
    pub max_locations: usize,
    /// Lines of context around each located region in the repair prompt.
    pub context_lines: usize,
    /// Skeletons and code shown in one prompt are cut at this many characters.
    pub max_prompt_chars: usize,
    pub localize_params: GenParams,
    /// Sampling for candidates after the first (whose temperature is 0).
    pub repair_params: GenParams,
    pub reproduction_params: GenParams,
    /// Run tests in the sandbox (related regression tests, the reproduction test).
    pub validate: bool,
    /// Ask the model for a reproduction test (only when `validate`).
    pub reproduction: bool,
    /// The test runner; test files are appended. pytest's `-rA` summary is parsed.
    pub test_command: String,
    pub test_timeout_s: u64,
    /// Related test files run for regressions.
    pub max_test_files: usize,
    /// Repository files read for retrieval, and the largest one read.
    pub max_files: usize,
    pub max_file_bytes: usize,
}

impl Default for AgentlessConfig {
    fn default() -> Self {
        AgentlessConfig {
            candidates: 4,
            top_files: 3,
            tree_files: 200,
            max_locations: 6,
            context_lines: 8,
            max_prompt_chars: 12_000,
            localize_params: GenParams::greedy(128),
            repair_params: GenParams {
                max_new_tokens: 512,
                temperature: 0.8,
                top_p: 0.95,
                top_k: None,
                seed: 0,
                stop: Vec::new(),
                ..GenParams::default()
            },
            reproduction_params: GenParams::greedy(384),
            validate: true,
            reproduction: true,
            test_command: "pytest -rA -p no:cacheprovider".into(),
            test_timeout_s: 300,
            max_test_files: 4,
            max_files: 5000,
            max_file_bytes: 500_000,
        }
    }
}

pub struct AgentlessPolicy {
    pub model: Arc<dyn LanguageModel>,
    pub config: AgentlessConfig,
}

/// Builds the trajectory: one step per model call, counters per stage.
struct Recorder<'a> {
    model: &'a dyn LanguageModel,
    progress: &'a dyn ProgressSink,
    traj: Trajectory,
    stage: Option<(Stage, Instant)>,
}

impl<'a> Recorder<'a> {
    fn begin(&mut self, name: &str) {
        self.stage = Some((
            Stage {
                name: name.into(),
                ..Stage::default()
            },
            Instant::now(),
        ));
    }

    fn end(&mut self, note: impl Into<String>) {
        if let Some((mut s, t0)) = self.stage.take() {
            s.ms = t0.elapsed().as_millis() as u64;
            s.note = note.into();
            self.progress.report(Progress::Stage(&s));
            self.traj.stages.push(s);
        }
    }

    /// A stage that did not run, recorded so every trajectory lists the same stages.
    fn skip(&mut self, name: &str, why: &str) {
        self.begin(name);
        self.end(format!("skipped: {why}"));
    }

    /// One model call; a failed call is recorded and reads as an empty reply, which every
    /// stage handles by falling back.
    async fn ask(&mut self, action: &str, messages: &[Message], params: &GenParams) -> String {
        let t0 = Instant::now();
        let (reply, step) = match self.model.chat(messages, params).await {
            Ok(c) => {
                let step = Step {
                    action: action.into(),
                    observation: String::new(),
                    actor: Actor::Slm,
                    tokens_in: c.tokens_in,
                    tokens_out: c.tokens_out,
                    ms: 0,
                    model_ms: c.ms,
                    response: c.text.clone(),
                    note: c.note.clone(),
                    cost: c.cost,
                };
                (c.text, step)
            }
            Err(e) => (
                String::new(),
                Step {
                    action: action.into(),
                    observation: String::new(),
                    actor: Actor::Slm,
                    tokens_in: 0,
                    tokens_out: 0,
                    ms: 0,
                    model_ms: t0.elapsed().as_millis() as u64,
                    response: String::new(),
                    note: Some(format!("model error: {e}")),
                    cost: 0.0,
                },
            ),
        };
        let mut step = step;
        step.ms = t0.elapsed().as_millis() as u64;
        if let Some((s, _)) = self.stage.as_mut() {
            s.model_calls += 1;
            s.tokens_in += step.tokens_in;
            s.tokens_out += step.tokens_out;
            s.cost += step.cost;
        }
        self.traj.steps.push(step);
        reply
    }

    /// What the pipeline made of the last reply.
    fn observe(&mut self, observation: impl Into<String>) {
        if let Some(s) = self.traj.steps.last_mut() {
            s.observation = observation.into();
        }
    }
}

fn repair_prompt(problem: &str, context: &str) -> Vec<Message> {
    vec![
        Message::system(
            "You fix GitHub issues in Python repositories by editing code with SEARCH/REPLACE blocks.",
        ),
        Message::user(format!(
            "<issue>\n{}\n</issue>\n\nThe relevant code:\n{context}\nFix the issue. Reply with one or more edits, each in exactly this form:\n```python\n### path/to/file.py\n<<<<<<< SEARCH\n    exact lines copied from the code above\n=======\n    the lines that replace them\n>>>>>>> REPLACE\n```",
            problem.trim()
        )),
    ]
}

fn reproduction_prompt(problem: &str, context: &str) -> Vec<Message> {
    vec![
        Message::system("You write pytest tests that reproduce GitHub issues."),
        Message::user(format!(
            "<issue>\n{}\n</issue>\n\nThe relevant code:\n{context}\nWrite a pytest test file that reproduces the issue: its tests must fail on the code above and pass once the issue is fixed. Import the code from its package; the repository root is the working directory. Reply with the file in one ```python block.",
            problem.trim()
        )),
    ]
}

fn names(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn describe(locs: &[Location]) -> String {
    locs.iter()
        .map(|l| match &l.name {
            Some(n) => format!("{}:{n} ({}-{})", l.path, l.start, l.end),
            None => format!("{}:{}-{}", l.path, l.start, l.end),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A candidate's validation: regressions, and whether the reproduction test passes.
type Verdicts = (Option<usize>, Option<bool>);

/// A surviving candidate: its edited files' new contents.
struct Survivor {
    index: usize,
    files: BTreeMap<String, String>,
    regressions: Option<usize>,
    reproduction_passes: Option<bool>,
}

impl AgentlessPolicy {
    /// Runs the pipeline in a workspace; the trajectory's `patch` is the selected candidate's
    /// (empty when none survives).
    pub async fn run(&self, task: &Task, ws: &dyn Sandbox) -> Trajectory {
        self.run_reporting(task, ws, &Silent).await
    }

    /// [`AgentlessPolicy::run`], reporting each stage to `progress` when it ends.
    pub async fn run_reporting(
        &self,
        task: &Task,
        ws: &dyn Sandbox,
        progress: &dyn ProgressSink,
    ) -> Trajectory {
        let cfg = &self.config;
        let mut p = Pipeline {
            cfg,
            ws,
            // Prompts carry at most `max_prompt_chars` of the issue (retrieval reads all of it).
            problem: cut(&task.problem_statement, cfg.max_prompt_chars),
            full_problem: &task.problem_statement,
            timeout: Duration::from_secs(cfg.test_timeout_s),
            rec: Recorder {
                model: self.model.as_ref(),
                progress,
                traj: Trajectory {
                    instance_id: task.instance_id.clone(),
                    policy: self.name(),
                    slm: self.model.name().to_string(),
                    ..Default::default()
                },
                stage: None,
            },
        };
        let (repo, top) = match p.localize_files().await {
            Ok(found) => found,
            Err(why) => return finish(p.rec, &why),
        };
        let (edit_files, context) = p.localize_elements(&repo, &top).await;
        let mut survivors = p.repair(&repo, &context, &edit_files).await;
        let reproduction = p.reproduction(&context, !survivors.is_empty()).await;
        p.validate(&repo, &mut survivors, reproduction).await;
        let exit = p.select(&survivors);
        p.rec.traj.exit_reason = exit;
        p.rec.traj
    }
}

/// One run of the pipeline: what every stage reads, and the trajectory they build.
struct Pipeline<'a> {
    cfg: &'a AgentlessConfig,
    ws: &'a dyn Sandbox,
    /// The issue as prompts carry it (cut at `max_prompt_chars`).
    problem: String,
    /// The whole issue, which retrieval reads.
    full_problem: &'a str,
    timeout: Duration,
    rec: Recorder<'a>,
}

impl Pipeline<'_> {
    /// Stage 1: The files to edit: the model's choice from the tree, fused with BM25 retrieval.
    async fn localize_files(&mut self) -> Result<(Repo, Vec<String>), String> {
        let cfg = self.cfg;
        let ws = self.ws;
        let timeout = self.timeout;
        let full_problem = self.full_problem;
        let problem = self.problem.as_str();
        self.rec.begin("localize_files");
        let repo = match Repo::load(ws, cfg.max_files, cfg.max_file_bytes, timeout).await {
            Ok(r) if !r.sources.is_empty() => r,
            Ok(_) => return Err("no Python source files in the repository".into()),
            Err(e) => return Err(e),
        };
        let ranking = localize::retrieval_ranking(full_problem, &repo);
        // Files sharing no term with the issue are no evidence for retrieval's side.
        let retrieved: Vec<String> = ranking
            .iter()
            .filter(|(_, s)| *s > 0.0)
            .map(|(p, _)| p.clone())
            .collect();
        let shown: Vec<String> = if repo.sources.len() <= cfg.tree_files {
            repo.sources.clone()
        } else {
            ranking
                .iter()
                .take(cfg.tree_files)
                .map(|(p, _)| p.clone())
                .collect()
        };
        let reply = self
            .rec
            .ask(
                "localize_files",
                &localize::files_prompt(problem, &repo::render_tree(&shown), cfg.top_files),
                &cfg.localize_params,
            )
            .await;
        let named = localize::parse_files(&reply, &repo.sources);
        let mut top: Vec<String> = localize::fuse(&named, &retrieved, 10.0)
            .into_iter()
            .take(cfg.top_files.max(1))
            .collect();
        if top.is_empty() {
            top = ranking
                .iter()
                .take(cfg.top_files.max(1))
                .map(|(p, _)| p.clone())
                .collect();
        }
        let mut note = format!(
            "model named: {}; BM25 top: {}; chosen: {}",
            names(&named),
            names(
                &retrieved
                    .iter()
                    .take(cfg.top_files)
                    .cloned()
                    .collect::<Vec<_>>()
            ),
            names(&top)
        );
        if named.is_empty() {
            note.push_str("; the model named no repository file, so the retrieval ranking decides");
        }
        if !repo.skipped.is_empty() {
            note.push_str(&format!(
                "; {} files not read (size or count limits)",
                repo.skipped.len()
            ));
        }
        self.rec.observe(note.clone());
        self.rec.end(note);
        Ok((repo, top))
    }

    /// Stage 2: the classes, functions or line ranges in those files, the files they are in,
    /// and the code around them.
    async fn localize_elements(&mut self, repo: &Repo, top: &[String]) -> (Vec<String>, String) {
        let cfg = self.cfg;
        let full_problem = self.full_problem;
        let problem = self.problem.as_str();
        self.rec.begin("localize_elements");
        let files: Vec<(String, Vec<skeleton::Element>, usize)> = top
            .iter()
            .map(|p| {
                let text = repo.contents.get(p).map_or("", |s| s.as_str());
                (p.clone(), skeleton::elements(text), repo.line_count(p))
            })
            .collect();
        let skeletons = localize::skeletons(&files, cfg.max_prompt_chars);
        let reply = self
            .rec
            .ask(
                "localize_elements",
                &localize::elements_prompt(problem, &skeletons),
                &cfg.localize_params,
            )
            .await;
        let mut locations = localize::parse_locations(&reply, &files, cfg.max_locations);
        let note = if locations.is_empty() {
            locations =
                localize::retrieval_locations(full_problem, repo, &files, cfg.max_locations.min(3));
            format!(
                "the model named no class, function or line range of the top files; BM25 over their elements chose: {}",
                describe(&locations)
            )
        } else {
            format!("the model named: {}", describe(&locations))
        };
        self.rec.observe(note.clone());
        self.rec.end(note);
        let mut edit_files: Vec<String> = Vec::new();
        for l in &locations {
            if !edit_files.contains(&l.path) {
                edit_files.push(l.path.clone());
            }
        }
        let context =
            localize::code_context(repo, &locations, cfg.context_lines, cfg.max_prompt_chars);
        (edit_files, context)
    }

    /// Stage 3: Candidate edits, each applied to the localized files; those that apply survive.
    async fn repair(&mut self, repo: &Repo, context: &str, edit_files: &[String]) -> Vec<Survivor> {
        let cfg = self.cfg;
        let problem = self.problem.as_str();
        self.rec.begin("repair");
        let messages = repair_prompt(problem, context);
        let default_path = (edit_files.len() == 1).then(|| edit_files[0].as_str());
        let mut survivors: Vec<Survivor> = Vec::new();
        for i in 0..cfg.candidates {
            let mut params = cfg.repair_params.clone();
            params.seed = cfg.repair_params.seed.wrapping_add(i as u64);
            if i == 0 {
                params.temperature = 0.0;
            }
            let reply = self
                .rec
                .ask(&format!("repair {i}"), &messages, &params)
                .await;
            let mut cand = Candidate {
                index: i,
                temperature: params.temperature,
                seed: params.seed,
                ..Candidate::default()
            };
            match edits::parse(&reply, default_path)
                .and_then(|e| edits::apply(&repo.contents, &e, edit_files))
            {
                Ok(new) => {
                    cand.patch = edits::diff(&repo.contents, &new);
                    cand.fate = "survived".into();
                    survivors.push(Survivor {
                        index: i,
                        files: new,
                        regressions: None,
                        reproduction_passes: None,
                    });
                }
                Err(why) => cand.fate = format!("dropped: {why}"),
            }
            self.rec.observe(cand.fate.clone());
            self.rec.traj.candidates.push(cand);
        }
        self.rec.end(format!(
            "{} of {} candidates apply to the localized files ({}) and parse",
            survivors.len(),
            cfg.candidates,
            names(edit_files)
        ));
        survivors
    }

    /// Stage 4: A reproduction test, kept only when it fails before any edit.
    async fn reproduction(&mut self, context: &str, any_survivor: bool) -> bool {
        let cfg = self.cfg;
        let ws = self.ws;
        let timeout = self.timeout;
        let problem = self.problem.as_str();
        let mut reproduction = false;
        if cfg.validate && cfg.reproduction && any_survivor {
            self.rec.begin("reproduction");
            let reply = self
                .rec
                .ask(
                    "reproduction_test",
                    &reproduction_prompt(problem, context),
                    &cfg.reproduction_params,
                )
                .await;
            let code = validate::code_block(&reply);
            let path = format!("/testbed/{}", validate::REPRODUCTION_FILE);
            let note = if code.trim().is_empty() {
                "the model wrote no test".to_string()
            } else if !code.contains("def test") {
                "the model's reply has no test function".to_string()
            } else if let Some(e) = skeleton::syntax_error(&code) {
                format!("the reproduction test does not parse: {e}")
            } else if let Err(e) = ws.write_file(&path, code.as_bytes()).await {
                format!("cannot write the reproduction test: {e}")
            } else {
                let before = validate::run_tests(
                    ws,
                    &cfg.test_command,
                    &[validate::REPRODUCTION_FILE.to_string()],
                    timeout,
                )
                .await;
                reproduction = before.some_failed();
                if reproduction {
                    "the reproduction test fails before any edit: it is used".to_string()
                } else {
                    let _ = ws.remove_file(&path).await;
                    format!(
                        "the reproduction test does not fail before any edit ({}), so it is not used",
                        run_summary(&before)
                    )
                }
            };
            self.rec.observe(note.clone());
            self.rec.end(note);
        } else {
            self.rec.skip(
                "reproduction",
                skip_reason(cfg, any_survivor, cfg.reproduction),
            );
        }
        reproduction
    }

    /// Stage 5: Each distinct surviving candidate against the related tests (and the reproduction
    /// test), the workspace restored after each.
    async fn validate(&mut self, repo: &Repo, survivors: &mut [Survivor], reproduction: bool) {
        let cfg = self.cfg;
        let ws = self.ws;
        let timeout = self.timeout;
        if cfg.validate && !survivors.is_empty() {
            self.rec.begin("validate");
            let mut edited: Vec<String> = Vec::new();
            for s in survivors.iter() {
                for p in s.files.keys() {
                    if !edited.contains(p) {
                        edited.push(p.clone());
                    }
                }
            }
            let tests: BTreeMap<String, String> = repo
                .tests
                .iter()
                .filter_map(|p| repo.contents.get(p).map(|t| (p.clone(), t.clone())))
                .collect();
            let related = validate::related_tests(&edited, &tests, cfg.max_test_files);
            let before = if related.is_empty() {
                None
            } else {
                Some(validate::run_tests(ws, &cfg.test_command, &related, timeout).await)
            };
            let mut problems: Vec<String> = Vec::new();
            // Candidates with the same files are validated once.
            let mut done: HashMap<Vec<(String, String)>, Verdicts> = HashMap::new();
            for s in survivors.iter_mut() {
                let key: Vec<(String, String)> = s
                    .files
                    .iter()
                    .map(|(a, b)| (a.clone(), b.clone()))
                    .collect();
                if let Some((r, p)) = done.get(&key) {
                    (s.regressions, s.reproduction_passes) = (*r, *p);
                    continue;
                }
                let mut written = Vec::new();
                let mut ok = true;
                for (p, text) in &s.files {
                    match ws
                        .write_file(&format!("/testbed/{p}"), text.as_bytes())
                        .await
                    {
                        Ok(()) => written.push(p.clone()),
                        Err(e) => {
                            problems.push(format!("candidate {}: cannot write {p}: {e}", s.index));
                            ok = false;
                            break;
                        }
                    }
                }
                if ok {
                    if let Some(b) = &before {
                        let after =
                            validate::run_tests(ws, &cfg.test_command, &related, timeout).await;
                        // A baseline that did not finish says nothing about regressions.
                        if after.error.is_none() && b.error.is_none() && !b.timed_out {
                            s.regressions = Some(validate::regressions(b, &after));
                        }
                    }
                    if reproduction {
                        let r = validate::run_tests(
                            ws,
                            &cfg.test_command,
                            &[validate::REPRODUCTION_FILE.to_string()],
                            timeout,
                        )
                        .await;
                        s.reproduction_passes = Some(r.all_passed());
                    }
                }
                // The workspace goes back to the base files before the next candidate.
                for p in written {
                    let original = repo.contents.get(&p).map_or("", |s| s.as_str());
                    if let Err(e) = ws
                        .write_file(&format!("/testbed/{p}"), original.as_bytes())
                        .await
                    {
                        problems.push(format!("cannot restore {p}: {e}"));
                    }
                }
                done.insert(key, (s.regressions, s.reproduction_passes));
            }
            if reproduction {
                let _ = ws
                    .remove_file(&format!("/testbed/{}", validate::REPRODUCTION_FILE))
                    .await;
            }
            for s in survivors.iter() {
                let c = &mut self.rec.traj.candidates[s.index];
                c.regressions = s.regressions;
                c.reproduction_passes = s.reproduction_passes;
            }
            let mut note = match &before {
                None => "no existing test imports or names the edited modules".to_string(),
                Some(b) => format!(
                    "regression tests {} before the edits: {}",
                    names(&related),
                    run_summary(b)
                ),
            };
            if !problems.is_empty() {
                note.push_str(&format!("; {}", problems.join("; ")));
            }
            self.rec.end(note);
        } else {
            self.rec
                .skip("validate", skip_reason(cfg, !survivors.is_empty(), true));
        }
    }

    /// Stage 6: The candidate the surviving ones agree with most; the exit reason.
    fn select(&mut self, survivors: &[Survivor]) -> String {
        self.rec.begin("select");
        let entries: Vec<select::Entry> = survivors
            .iter()
            .map(|s| select::Entry {
                index: s.index,
                key: s
                    .files
                    .iter()
                    .map(|(p, t)| format!("{p}\n{}", skeleton::normalized(t)))
                    .collect::<Vec<_>>()
                    .join("\n"),
                regressions: s.regressions,
                reproduction_passes: s.reproduction_passes,
            })
            .collect();
        let exit = match select::select(&entries) {
            Some((winner, votes)) => {
                for (e, v) in entries.iter().zip(&votes) {
                    self.rec.traj.candidates[e.index].votes = Some(*v);
                }
                let c = &mut self.rec.traj.candidates[winner];
                c.fate = "selected".into();
                self.rec.traj.patch = c.patch.clone();
                format!(
                    "selected candidate {winner} ({} of {} surviving candidates vote for it)",
                    c.votes.unwrap_or(1),
                    survivors.len()
                )
            }
            None => "no candidate survived".to_string(),
        };
        self.rec.end(exit.clone());
        exit
    }
}

/// `s` cut to at most `max` bytes at a character boundary, marked where cut.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n[cut]", &s[..end])
}

fn skip_reason(cfg: &AgentlessConfig, any_survivor: bool, enabled: bool) -> &'static str {
    if !cfg.validate || !enabled {
        "turned off in the configuration"
    } else if !any_survivor {
        "no candidate survived repair"
    } else {
        "not needed"
    }
}

fn run_summary(r: &TestRun) -> String {
    if let Some(e) = &r.error {
        return format!("could not run: {e}");
    }
    if r.timed_out {
        return "timed out".into();
    }
    let passed = r.statuses.values().filter(|p| **p).count();
    format!(
        "{passed} passed, {} failed, exit code {}",
        r.statuses.len() - passed,
        r.exit_code.map_or("none".into(), |c| c.to_string())
    )
}

/// Ends the pipeline early, saying why.
fn finish(mut rec: Recorder, why: &str) -> Trajectory {
    rec.end(why.to_string());
    rec.traj.exit_reason = why.to_string();
    rec.traj
}

#[async_trait]
impl Policy for AgentlessPolicy {
    fn name(&self) -> String {
        format!("agentless:{}", self.model.name())
    }
    fn needs_workspace(&self) -> bool {
        true
    }
    async fn solve(
        &self,
        task: &Task,
        workspace: Option<&dyn Sandbox>,
    ) -> Result<Attempt, PolicyError> {
        self.solve_reporting(task, workspace, &Silent).await
    }
    async fn solve_reporting(
        &self,
        task: &Task,
        workspace: Option<&dyn Sandbox>,
        progress: &dyn ProgressSink,
    ) -> Result<Attempt, PolicyError> {
        let ws = workspace
            .ok_or_else(|| PolicyError::Config("agentless needs a workspace sandbox".into()))?;
        let started = Instant::now();
        let traj = self.run_reporting(task, ws, progress).await;
        Ok(Attempt {
            patch: (!traj.patch.is_empty()).then(|| traj.patch.clone()),
            note: Some(format!("exit: {}", traj.exit_reason)),
            duration: started.elapsed(),
            trajectory: Some(traj),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protege_datasets::mini;

    fn repo_of(id: &str) -> Repo {
        Repo::from_files(mini::repo_files(id).into_iter().map(|f| {
            (
                f.path,
                String::from_utf8(f.contents.to_vec()).expect("utf-8"),
            )
        }))
    }

    /// The files a gold patch edits.
    fn gold_files(patch: &str) -> Vec<String> {
        patch
            .lines()
            .filter_map(|l| l.strip_prefix("+++ b/"))
            .map(str::to_string)
            .collect()
    }

    /// A model that always fails.
    struct Down;

    #[async_trait]
    impl LanguageModel for Down {
        fn name(&self) -> &str {
            "down"
        }
        async fn chat(
            &self,
            _: &[Message],
            _: &GenParams,
        ) -> Result<crate::lm::Completion, crate::lm::LmError> {
            Err(crate::lm::LmError::Unreachable {
                url: "http://127.0.0.1:9/v1".into(),
                message: "refused".into(),
            })
        }
    }

    /// Files in memory; `find` lists them, any other command fails to run.
    struct Memory(std::sync::Mutex<BTreeMap<String, Vec<u8>>>);

    #[async_trait]
    impl Sandbox for Memory {
        async fn exec(
            &self,
            command: &str,
            _: &protege_sandboxes::ExecOptions,
        ) -> Result<protege_sandboxes::ExecOutput, protege_sandboxes::SandboxError> {
            if !command.starts_with("find /testbed") {
                return Err(protege_sandboxes::SandboxError::Unsupported(command.into()));
            }
            let files = self.0.lock().unwrap();
            Ok(protege_sandboxes::ExecOutput {
                exit_code: Some(0),
                output: files.keys().map(|k| format!("{k}\n")).collect(),
                ..Default::default()
            })
        }
        async fn write_file(
            &self,
            path: &str,
            contents: &[u8],
        ) -> Result<(), protege_sandboxes::SandboxError> {
            self.0
                .lock()
                .unwrap()
                .insert(path.into(), contents.to_vec());
            Ok(())
        }
        async fn read_file(&self, path: &str) -> Result<Vec<u8>, protege_sandboxes::SandboxError> {
            self.0
                .lock()
                .unwrap()
                .get(path)
                .cloned()
                .ok_or_else(|| protege_sandboxes::SandboxError::Io(format!("no {path}")))
        }
        fn describe(&self) -> String {
            "memory".into()
        }
        async fn close(&self) -> Result<(), protege_sandboxes::SandboxError> {
            Ok(())
        }
    }

    fn memory(id: &str) -> Memory {
        Memory(std::sync::Mutex::new(
            mini::repo_files(id)
                .into_iter()
                .map(|f| (format!("/testbed/{}", f.path), f.contents.to_vec()))
                .collect(),
        ))
    }

    #[tokio::test]
    async fn a_failing_model_is_recorded_and_the_pipeline_ends_without_a_patch() {
        let task = mini::load()
            .unwrap()
            .tasks
            .into_iter()
            .find(|t| t.instance_id == "protege-mini__romanum-1")
            .unwrap();
        let policy = AgentlessPolicy {
            model: Arc::new(Down),
            config: AgentlessConfig {
                candidates: 2,
                ..AgentlessConfig::default()
            },
        };
        let ws = memory(&task.instance_id);
        let attempt = policy.solve(&task, Some(&ws)).await.unwrap();
        assert_eq!(attempt.patch, None);
        let t = attempt.trajectory.unwrap();
        assert_eq!(t.policy, "agentless:down");
        assert_eq!(
            t.steps.len(),
            4,
            "two localization calls and two repair calls"
        );
        for s in &t.steps {
            assert!(
                s.note
                    .as_deref()
                    .unwrap()
                    .starts_with("model error: cannot reach"),
                "{s:?}"
            );
        }
        assert!(t.stages[0].note.contains("retrieval ranking decides"));
        assert!(
            t.stages[0]
                .note
                .contains("chosen: romanum/__init__.py, romanum/convert.py")
        );
        assert_eq!(t.stages[1].model_calls, 1);
        assert_eq!(t.exit_reason, "no candidate survived");
        assert_eq!(t.stats(5).loops, 0);
    }

    #[tokio::test]
    async fn an_empty_repository_ends_the_pipeline_early() {
        let policy = AgentlessPolicy {
            model: Arc::new(Down),
            config: AgentlessConfig::default(),
        };
        let task = mini::load().unwrap().tasks.remove(0);
        let ws = Memory(Default::default());
        let t = policy.run(&task, &ws).await;
        assert_eq!(t.exit_reason, "no Python source files in the repository");
        assert!(t.steps.is_empty() && t.patch.is_empty());
        assert_eq!(t.stages.len(), 1);
    }

    #[test]
    fn long_issues_are_cut_at_a_character_boundary() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("ééé", 3), "é\n[cut]");
    }

    #[test]
    fn every_mini_file_parses_and_has_a_skeleton() {
        for task in mini::load().unwrap().tasks {
            let repo = repo_of(&task.instance_id);
            assert!(!repo.sources.is_empty(), "{}", task.instance_id);
            for (path, text) in &repo.contents {
                assert_eq!(
                    skeleton::syntax_error(text),
                    None,
                    "{}: {path}",
                    task.instance_id
                );
            }
            for f in gold_files(&task.patch) {
                assert!(
                    !skeleton::elements(&repo.contents[&f]).is_empty(),
                    "{}: {f}",
                    task.instance_id
                );
            }
        }
    }

    /// BM25 alone (what localization falls back to when the model names nothing) finds the
    /// file the gold patch edits among the top three on most of the mini set.
    #[test]
    fn retrieval_localizes_the_gold_file_on_mini() {
        let tasks = mini::load().unwrap().tasks;
        let mut hits = Vec::new();
        for task in &tasks {
            let repo = repo_of(&task.instance_id);
            let top: Vec<String> = localize::retrieval_ranking(&task.problem_statement, &repo)
                .into_iter()
                .take(3)
                .map(|(p, _)| p)
                .collect();
            let gold = gold_files(&task.patch);
            eprintln!("{}: gold {gold:?} top {top:?}", task.instance_id);
            if gold.iter().all(|g| top.contains(g)) {
                hits.push(task.instance_id.clone());
            }
        }
        assert!(
            hits.len() * 10 >= tasks.len() * 8,
            "{} of {}: {hits:?}",
            hits.len(),
            tasks.len()
        );
    }
}
