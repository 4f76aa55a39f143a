//! Tables of a run in csv, md and json. They hold no timings, so the same records give the
//! same tables byte for byte.

use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::Record;
use crate::metrics::{RepoRow, Summary, per_repo, summarize};

/// One table: a header and rows of cells, plus its JSON form.
pub struct Table {
    pub name: &'static str,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    pub json: serde_json::Value,
}

impl Table {
    pub fn markdown(&self) -> String {
        let mut s = format!("| {} |\n", self.header.join(" | "));
        s.push_str(&format!("|{}\n", "---|".repeat(self.header.len())));
        for r in &self.rows {
            s.push_str(&format!("| {} |\n", r.join(" | ")));
        }
        s
    }

    pub fn csv(&self) -> String {
        let esc = |c: &str| {
            if c.contains([',', '"', '\n']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.to_string()
            }
        };
        let mut s = self
            .header
            .iter()
            .map(|h| esc(h))
            .collect::<Vec<_>>()
            .join(",")
            + "\n";
        for r in &self.rows {
            s.push_str(&(r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(",") + "\n"));
        }
        s
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).expect("table serialises")
}

pub fn summary_table(s: &Summary) -> Table {
    Table {
        name: "summary",
        header: vec![
            "tasks",
            "resolved",
            "Pass@1",
            "95% CI",
            "unresolved",
            "empty patch",
            "patch not applied",
            "timeout",
            "infra error",
            "flaky tests",
            "not finished",
        ],
        rows: vec![vec![
            s.tasks.to_string(),
            s.resolved.to_string(),
            pct(s.pass_at_1),
            format!("{}–{}", pct(s.ci95_low), pct(s.ci95_high)),
            s.unresolved.to_string(),
            s.empty_patch.to_string(),
            s.patch_not_applied.to_string(),
            s.timeout.to_string(),
            s.infra_error.to_string(),
            s.flaky_tests.to_string(),
            (s.tasks - s.finished.min(s.tasks)).to_string(),
        ]],
        json: json(s),
    }
}

pub fn repo_table(rows: &[RepoRow]) -> Table {
    Table {
        name: "repos",
        header: vec!["repo", "tasks", "resolved", "Pass@1"],
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.repo.clone(),
                    r.tasks.to_string(),
                    r.resolved.to_string(),
                    pct(r.pass_at_1),
                ]
            })
            .collect(),
        json: json(&rows),
    }
}

#[derive(Serialize)]
struct InstanceRow<'a> {
    instance_id: &'a str,
    repo: &'a str,
    outcome: &'a str,
    resolved: bool,
    fail_to_pass: String,
    pass_to_pass: String,
    detail: String,
}

pub fn instance_table(records: &[&Record]) -> Table {
    let mut rows: Vec<InstanceRow> = records
        .iter()
        .map(|r| {
            let ts = r.verdict.report.tests_status.as_ref();
            let frac = |sf: Option<&crate::SuccessFailure>| match sf {
                Some(sf) => format!(
                    "{}/{}",
                    sf.success.len(),
                    sf.success.len() + sf.failure.len()
                ),
                None => "-".into(),
            };
            let detail = r
                .verdict
                .infra_error
                .as_ref()
                .map(|e| format!("{}: {}", e.kind, e.message.lines().next().unwrap_or("")))
                .or_else(|| r.verdict.patch_problem.clone())
                .unwrap_or_default();
            InstanceRow {
                instance_id: &r.instance_id,
                repo: &r.repo,
                outcome: r.verdict.outcome.as_str(),
                resolved: r.verdict.resolved(),
                fail_to_pass: frac(ts.map(|t| &t.fail_to_pass)),
                pass_to_pass: frac(ts.map(|t| &t.pass_to_pass)),
                detail,
            }
        })
        .collect();
    rows.sort_by(|a, b| a.instance_id.cmp(b.instance_id));
    Table {
        name: "instances",
        header: vec![
            "instance",
            "repo",
            "outcome",
            "FAIL_TO_PASS",
            "PASS_TO_PASS",
            "detail",
        ],
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.instance_id.to_string(),
                    r.repo.to_string(),
                    r.outcome.to_string(),
                    r.fail_to_pass.clone(),
                    r.pass_to_pass.clone(),
                    r.detail.replace('|', "/"),
                ]
            })
            .collect(),
        json: json(&rows),
    }
}

#[derive(Serialize)]
struct AgentRow {
    group: &'static str,
    tasks: usize,
    mean_steps: f64,
    loops_per_task: f64,
    /// Share of trajectories whose longest run of identical base commands exceeds
    /// [`LONG_RUN`] steps (the paper's loop metric).
    long_loop_share: f64,
    expert_calls_per_task: f64,
    expert_token_share: f64,
    cost_per_task: f64,
    /// Nearest-rank median.
    median_cost_per_task: f64,
}

/// A run of identical base commands longer than this counts as a loop in the agent table
/// (reviews of the paper: 31.0% of trajectories after SFT, 0.8% after RL).
pub const LONG_RUN: usize = 10;

/// Agent statistics (from trajectories), for all tasks and split by resolved / not resolved.
/// The expert-token share is pooled: expert tokens over all tokens of the group.
pub fn agent_table(latest: &[&Record]) -> Option<Table> {
    let with: Vec<&Record> = latest
        .iter()
        .copied()
        .filter(|r| r.agent.is_some())
        .collect();
    if with.is_empty() {
        return None;
    }
    let row = |group: &'static str, rs: Vec<&Record>| -> AgentRow {
        let n = rs.len();
        let a: Vec<&crate::AgentStats> = rs.iter().filter_map(|r| r.agent.as_ref()).collect();
        let mean = |f: &dyn Fn(&crate::AgentStats) -> f64| {
            if n == 0 {
                0.0
            } else {
                a.iter().map(|s| f(s)).sum::<f64>() / n as f64
            }
        };
        let (et, all): (u64, u64) = a.iter().fold((0, 0), |(e, t), s| {
            (e + s.expert_tokens, t + s.expert_tokens + s.slm_tokens)
        });
        AgentRow {
            group,
            tasks: n,
            mean_steps: mean(&|s| s.steps as f64),
            loops_per_task: mean(&|s| s.loops as f64),
            long_loop_share: mean(&|s| f64::from(u8::from(s.longest_run > LONG_RUN))),
            expert_calls_per_task: mean(&|s| s.expert_calls as f64),
            expert_token_share: if all == 0 {
                0.0
            } else {
                et as f64 / all as f64
            },
            cost_per_task: mean(&|s| s.cost),
            median_cost_per_task: crate::metrics::percentile(
                &a.iter().map(|s| s.cost).collect::<Vec<_>>(),
                50.0,
            )
            .unwrap_or(0.0),
        }
    };
    let rows = vec![
        row("all", with.clone()),
        row(
            "resolved",
            with.iter()
                .copied()
                .filter(|r| r.verdict.resolved())
                .collect(),
        ),
        row(
            "not resolved",
            with.iter()
                .copied()
                .filter(|r| !r.verdict.resolved())
                .collect(),
        ),
    ];
    Some(Table {
        name: "agent",
        header: vec![
            "tasks",
            "group",
            "mean steps",
            "loops/task",
            "loop run > 10",
            "expert calls/task",
            "expert-token share",
            "cost/task ($)",
            "median cost/task ($)",
        ],
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.tasks.to_string(),
                    r.group.to_string(),
                    format!("{:.1}", r.mean_steps),
                    format!("{:.2}", r.loops_per_task),
                    pct(r.long_loop_share),
                    format!("{:.2}", r.expert_calls_per_task),
                    pct(r.expert_token_share),
                    format!("{:.4}", r.cost_per_task),
                    format!("{:.4}", r.median_cost_per_task),
                ]
            })
            .collect(),
        json: json(&rows),
    })
}

/// The tables of a run, from its latest record per instance.
pub fn build(task_repos: &[&str], latest: &[&Record]) -> Vec<Table> {
    let summary = summarize(task_repos.len(), latest.iter().copied());
    let mut t = vec![
        summary_table(&summary),
        repo_table(&per_repo(task_repos, latest.iter().copied())),
        instance_table(latest),
    ];
    t.extend(agent_table(latest));
    t
}

/// Writes `tables/<name>.{csv,md,json}` for each table.
pub fn write(dir: &Path, tables: &[Table]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    for t in tables {
        fs::write(dir.join(format!("{}.md", t.name)), t.markdown())?;
        fs::write(dir.join(format!("{}.csv", t.name)), t.csv())?;
        let mut j = serde_json::to_string_pretty(&t.json).expect("json");
        j.push('\n');
        fs::write(dir.join(format!("{}.json", t.name)), j)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_escapes_and_md_aligns() {
        let t = Table {
            name: "x",
            header: vec!["a", "b"],
            rows: vec![vec!["1,2".into(), "say \"hi\"".into()]],
            json: serde_json::Value::Null,
        };
        assert_eq!(t.csv(), "a,b\n\"1,2\",\"say \"\"hi\"\"\"\n");
        assert_eq!(t.markdown(), "| a | b |\n|---|---|\n| 1,2 | say \"hi\" |\n");
    }

    #[test]
    fn agent_table_has_the_paper_metrics_split_by_resolved() {
        use crate::{AgentStats, Outcome, Stats, Verdict};
        let rec = |id: &str, resolved: bool, longest_run: usize, steps: usize, cost: f64| Record {
            instance_id: id.into(),
            repo: "r".into(),
            policy: "agent".into(),
            patch_sha256: String::new(),
            cache_key: String::new(),
            sandbox: "docker".into(),
            verdict: Verdict {
                outcome: if resolved {
                    Outcome::Resolved
                } else {
                    Outcome::Unresolved
                },
                report: Default::default(),
                infra_error: None,
                patch_problem: None,
                flaky: vec![],
            },
            stats: Stats::default(),
            agent: Some(AgentStats {
                steps,
                longest_run,
                expert_calls: 2,
                slm_tokens: 90,
                expert_tokens: 10,
                cost,
                ..AgentStats::default()
            }),
            reward: None,
            network: None,
        };
        let rs = [
            rec("a", true, 11, 20, 1.0),
            rec("b", true, 10, 30, 3.0),
            rec("c", false, 40, 60, 2.0),
            rec("d", false, 2, 50, 9.0),
        ];
        let refs: Vec<&Record> = rs.iter().collect();
        let t = agent_table(&refs).unwrap();
        let col = |name: &str| t.header.iter().position(|h| *h == name).unwrap();
        let cell = |row: usize, name: &str| t.rows[row][col(name)].clone();
        assert_eq!(cell(0, "group"), "all");
        assert_eq!(
            cell(0, "loop run > 10"),
            "50.0%",
            "11 and 40 are longer than 10; 10 is not"
        );
        assert_eq!(cell(1, "loop run > 10"), "50.0%");
        assert_eq!(cell(2, "loop run > 10"), "50.0%");
        assert_eq!(cell(0, "mean steps"), "40.0");
        assert_eq!(cell(1, "mean steps"), "25.0");
        assert_eq!(cell(0, "expert-token share"), "10.0%");
        assert_eq!(
            cell(0, "median cost/task ($)"),
            "2.0000",
            "nearest rank of 1, 2, 3, 9"
        );
        assert_eq!(cell(1, "median cost/task ($)"), "1.0000");
        assert_eq!(cell(2, "median cost/task ($)"), "2.0000");
        assert_eq!(t.json[0]["long_loop_share"], 0.5);
    }
}
