//! End-to-end: `protege report RUN --html` on a run folder built by hand, rendered by headless
//! Chromium; every number read back from the rendered DOM (`data-metric` attributes) must equal
//! what the records say.
//!
//! Without Chromium the rendering part is skipped loudly, except under CI (`CI` set), where it
//! fails: CI installs the Debian package `chromium`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use protege_results::manifest::Manifest;
use protege_results::store::RecordStore;
use protege_results::{AgentStats, Outcome, Record, Report, Stats, Verdict};

fn protege(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_protege"))
        .args(args)
        .output()
        .expect("run protege")
}

/// `(steps, loops, expert_calls, slm_tokens, expert_tokens, cost)`.
type Agent = (usize, usize, usize, u64, u64, f64);

/// One hand-made task: id, repo, latest outcome (None: no record), flaky tests, agent stats.
struct Task {
    id: &'static str,
    repo: &'static str,
    outcome: Option<Outcome>,
    flaky: usize,
    agent: Option<Agent>,
}

const fn t(
    id: &'static str,
    repo: &'static str,
    outcome: Option<Outcome>,
    flaky: usize,
    agent: Option<Agent>,
) -> Task {
    Task {
        id,
        repo,
        outcome,
        flaky,
        agent,
    }
}

const TASKS: &[Task] = &[
    t(
        "django__django-1",
        "django/django",
        Some(Outcome::Resolved),
        0,
        Some((12, 0, 1, 9000, 1000, 0.12)),
    ),
    t(
        "django__django-2",
        "django/django",
        Some(Outcome::Unresolved),
        0,
        Some((40, 6, 5, 30000, 6000, 0.61)),
    ),
    t(
        "django__django-3",
        "django/django",
        Some(Outcome::Resolved),
        1,
        Some((20, 2, 3, 15000, 5000, 0.3)),
    ),
    t(
        "astropy__astropy-1",
        "astropy/astropy",
        Some(Outcome::EmptyPatch),
        0,
        Some((50, 17, 0, 40000, 0, 0.9)),
    ),
    t("astropy__astropy-2", "astropy/astropy", None, 0, None),
    t(
        "sympy__sympy-1",
        "sympy/sympy",
        Some(Outcome::Resolved),
        2,
        None,
    ),
    t(
        "sympy__sympy-2",
        "sympy/sympy",
        Some(Outcome::Timeout),
        0,
        Some((33, 2, 2, 20000, 2500, 0.25)),
    ),
    t(
        "sympy__sympy-3",
        "sympy/sympy",
        Some(Outcome::InfraError),
        0,
        None,
    ),
];

// `..AgentStats::default()` keeps this compiling when AgentStats gains fields.
#[allow(clippy::needless_update)]
fn record(task: &Task, outcome: Outcome) -> Record {
    let verdict = Verdict {
        outcome,
        report: Report {
            resolved: outcome == Outcome::Resolved,
            ..Report::default()
        },
        infra_error: None,
        patch_problem: None,
        flaky: (0..task.flaky)
            .map(|i| format!("tests/test_x.py::t{i}"))
            .collect(),
    };
    // Through serde so that optional fields the Record may gain keep their defaults.
    let mut r: Record = serde_json::from_value(serde_json::json!({
        "instance_id": task.id,
        "repo": task.repo,
        "policy": "agent",
        "patch_sha256": "",
        "cache_key": task.id,
        "sandbox": "docker",
        "verdict": verdict,
        "stats": Stats::default(),
    }))
    .expect("record shape");
    r.agent = task.agent.map(
        |(steps, loops, expert_calls, slm, expert, cost)| AgentStats {
            steps,
            loops,
            loop_window: 5,
            expert_calls,
            slm_tokens: slm,
            expert_tokens: expert,
            expert_token_share: expert as f64 / (slm + expert) as f64,
            cost,
            exit_reason: "submitted".into(),
            ..AgentStats::default()
        },
    );
    r
}

fn write_run(dir: &Path, tasks: &[Task]) {
    std::fs::create_dir_all(dir).unwrap();
    let manifest = Manifest {
        run_id: "html-e2e".into(),
        protege_version: "0.1.0".into(),
        protege_commit: "test".into(),
        dataset: "hand-made".into(),
        dataset_sha256: "ab".repeat(32),
        policy: "agent".into(),
        sandbox: "docker".into(),
        grader: "swebench-5".into(),
        config: serde_json::json!({ "harness": "3" }),
        instances: tasks
            .iter()
            .map(|t| (t.id.to_string(), t.repo.to_string()))
            .collect(),
        ..Default::default()
    };
    std::fs::write(dir.join("manifest.json"), manifest.to_json()).unwrap();
    let store = RecordStore::open(&dir.join("records.jsonl")).unwrap();
    for task in tasks {
        if let Some(o) = task.outcome {
            if o == Outcome::Resolved {
                // Graded twice: the latest line counts.
                store.append(&record(task, Outcome::Unresolved)).unwrap();
            }
            store.append(&record(task, o)).unwrap();
        }
    }
}

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PROTEGE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome", "chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// The DOM of `page` as headless Chromium renders it.
fn dump_dom(chromium: &Path, page: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out_path = profile.path().join("dom.html");
    let err_path = profile.path().join("stderr.txt");
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ))
        .arg("--dump-dom")
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish in 120 s: {}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let dom = std::fs::read_to_string(&out_path).unwrap();
    assert!(
        status.success() && dom.contains("</html>"),
        "chromium failed ({status}): {}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    dom
}

/// `(name, data-value, text)` of every `data-metric` element, in document order.
fn metrics(dom: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut rest = dom;
    while let Some(i) = rest.find("data-metric=\"") {
        rest = &rest[i + "data-metric=\"".len()..];
        let name = &rest[..rest.find('"').unwrap()];
        let tag_end = rest.find('>').unwrap();
        let tag = &rest[..tag_end];
        let value = tag
            .find("data-value=\"")
            .map(|j| {
                let v = &tag[j + "data-value=\"".len()..];
                v[..v.find('"').unwrap()].to_string()
            })
            .unwrap_or_default();
        let after = &rest[tag_end + 1..];
        let text = &after[..after.find('<').unwrap()];
        out.push((name.to_string(), value, text.replace("&amp;", "&")));
        rest = after;
    }
    out
}

/// The metrics by name, each name once.
fn unique(ms: &[(String, String, String)]) -> BTreeMap<String, (f64, String)> {
    let mut m = BTreeMap::new();
    for (name, v, text) in ms {
        let value: f64 = v
            .parse()
            .unwrap_or_else(|_| panic!("{name}: data-value `{v}`"));
        assert!(
            m.insert(name.clone(), (value, text.clone())).is_none(),
            "metric {name} twice"
        );
    }
    m
}

fn wilson95(k: usize, n: usize) -> (f64, f64) {
    let (z, n, p) = (1.959963984540054, n as f64, k as f64 / n as f64);
    let d = 1.0 + z * z / n;
    let c = (p + z * z / (2.0 * n)) / d;
    let h = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / d;
    ((c - h).max(0.0), (c + h).min(1.0))
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

#[track_caller]
fn check(m: &BTreeMap<String, (f64, String)>, name: &str, value: f64, text: &str) {
    let (v, t) = m
        .get(name)
        .unwrap_or_else(|| panic!("no metric {name} on the page"));
    assert!(
        (v - value).abs() < 1e-9 * value.abs().max(1.0),
        "{name}: {v} != {value}"
    );
    assert_eq!(t, text, "{name}");
}

#[test]
fn html_report_numbers_read_back_from_the_rendered_dom() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("html-e2e");
    write_run(&run, TASKS);
    let o = protege(&["report", run.to_str().unwrap(), "--html"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = run.join("report.html");
    let html = std::fs::read_to_string(&page).expect("report.html written");
    // Self-contained: inline style and SVG, nothing fetched, no script.
    assert!(html.contains("<style>") && html.contains("<svg"));
    for banned in [
        "<script", "<link", "src=", "href=", "url(", "@import", "http:", "https:",
    ] {
        assert!(!html.contains(banned), "report.html contains `{banned}`");
    }
    // Same records, same page.
    assert!(
        protege(&["report", run.to_str().unwrap(), "--html"])
            .status
            .success()
    );
    assert_eq!(std::fs::read_to_string(&page).unwrap(), html);

    let Some(chromium) = find_chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is not installed under CI (apt-get install -y chromium)"
        );
        eprintln!("SKIPPED: chromium is not installed; the DOM of report.html was not checked");
        return;
    };
    let dom = dump_dom(&chromium, &page);
    let all = metrics(&dom);
    let (repo_rows, expert_rows): (Vec<_>, Vec<_>) = all
        .iter()
        .filter(|(n, _, _)| n.starts_with("repo_") || n.starts_with("expert_bucket_"))
        .cloned()
        .partition(|(n, _, _)| n.starts_with("repo_"));
    let m = unique(
        &all.iter()
            .filter(|(n, _, _)| !n.starts_with("repo_") && !n.starts_with("expert_bucket_"))
            .cloned()
            .collect::<Vec<_>>(),
    );

    // What the records say.
    let tasks = TASKS.len();
    let with = |o: Outcome| TASKS.iter().filter(|t| t.outcome == Some(o)).count();
    let resolved = with(Outcome::Resolved);
    let p = resolved as f64 / tasks as f64;
    let (lo, hi) = wilson95(resolved, tasks);
    check(&m, "tasks", tasks as f64, &tasks.to_string());
    check(&m, "resolved", resolved as f64, &resolved.to_string());
    check(&m, "pass_at_1", p, &pct(p));
    assert_eq!(m["pass_at_1"].1, "37.5%");
    check(&m, "ci95_low", lo, &pct(lo));
    check(&m, "ci95_high", hi, &pct(hi));
    for (name, o) in [
        ("outcome_resolved", Outcome::Resolved),
        ("unresolved", Outcome::Unresolved),
        ("empty_patch", Outcome::EmptyPatch),
        ("patch_not_applied", Outcome::PatchNotApplied),
        ("timeout", Outcome::Timeout),
        ("infra_error", Outcome::InfraError),
    ] {
        check(&m, name, with(o) as f64, &with(o).to_string());
    }
    let not_finished = TASKS.iter().filter(|t| t.outcome.is_none()).count();
    check(
        &m,
        "not_finished",
        not_finished as f64,
        &not_finished.to_string(),
    );
    let flaky: usize = TASKS
        .iter()
        .filter(|t| t.outcome.is_some())
        .map(|t| t.flaky)
        .sum();
    check(&m, "flaky_tests", flaky as f64, &flaky.to_string());

    // Per repository: one row each, in the DOM, with its own numbers.
    let mut repos: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for t in TASKS {
        let e = repos.entry(t.repo).or_default();
        e.0 += 1;
        e.1 += (t.outcome == Some(Outcome::Resolved)) as usize;
    }
    assert_eq!(repo_rows.len(), 3 * repos.len());
    for (repo, (n, k)) in &repos {
        let start = dom
            .find(&format!("data-repo=\"{repo}\""))
            .unwrap_or_else(|| panic!("no row for {repo}"));
        let row = &dom[start..start + dom[start..].find("</tr>").unwrap()];
        let rm = unique(&metrics(row));
        check(&rm, "repo_tasks", *n as f64, &n.to_string());
        check(&rm, "repo_resolved", *k as f64, &k.to_string());
        let rp = *k as f64 / *n as f64;
        check(&rm, "repo_pass_at_1", rp, &pct(rp));
    }

    // Agent statistics of the latest records that have them.
    let agent: Vec<(&Task, Agent)> = TASKS
        .iter()
        .filter(|t| t.outcome.is_some())
        .filter_map(|t| Some((t, t.agent?)))
        .collect();
    check(
        &m,
        "agent_tasks",
        agent.len() as f64,
        &agent.len().to_string(),
    );
    let mean = |xs: Vec<f64>| xs.iter().sum::<f64>() / xs.len() as f64;
    let loops: Vec<f64> = agent.iter().map(|(_, a)| a.1 as f64).collect();
    let lm = mean(loops.clone());
    check(&m, "loops_mean", lm, &format!("{lm:.2}"));
    let sm = mean(agent.iter().map(|(_, a)| a.0 as f64).collect());
    check(&m, "steps_mean", sm, &format!("{sm:.2}"));
    let with_loops = loops.iter().filter(|l| **l > 0.0).count();
    check(
        &m,
        "tasks_with_loops",
        with_loops as f64,
        &with_loops.to_string(),
    );
    // Histogram: one bin per loop count up to 15, then `15+`.
    let max = loops.iter().fold(0.0f64, |a, b| a.max(*b)) as usize;
    let top = max.min(15);
    let bins = m.keys().filter(|k| k.starts_with("loops_hist_")).count();
    assert_eq!(bins, top + 1);
    for k in 0..=top {
        let n = loops
            .iter()
            .filter(|l| (**l as usize).min(top) == k)
            .count();
        check(&m, &format!("loops_hist_{k}"), n as f64, &n.to_string());
    }
    assert!(dom.contains(">15+<"), "the last loop bin is open-ended");

    // Expert calls against resolution.
    let calls_on = |res: bool| -> Vec<f64> {
        agent
            .iter()
            .filter(|(t, _)| (t.outcome == Some(Outcome::Resolved)) == res)
            .map(|(_, a)| a.2 as f64)
            .collect()
    };
    let (cr, cu) = (mean(calls_on(true)), mean(calls_on(false)));
    check(&m, "expert_calls_mean_resolved", cr, &format!("{cr:.2}"));
    check(&m, "expert_calls_mean_unresolved", cu, &format!("{cu:.2}"));
    let total_calls: usize = agent.iter().map(|(_, a)| a.2).sum();
    check(
        &m,
        "expert_calls_total",
        total_calls as f64,
        &total_calls.to_string(),
    );
    let et: u64 = agent.iter().map(|(_, a)| a.4).sum();
    let tt: u64 = agent.iter().map(|(_, a)| a.3 + a.4).sum();
    let share = et as f64 / tt as f64;
    check(&m, "expert_token_share", share, &pct(share));
    // Bucket rows: tasks and resolved per number of expert calls.
    let bucket_tasks: usize = expert_rows
        .iter()
        .filter(|(n, _, _)| n == "expert_bucket_tasks")
        .map(|(_, v, _)| v.parse::<usize>().unwrap())
        .sum();
    assert_eq!(bucket_tasks, agent.len());
    let bucket_resolved: usize = expert_rows
        .iter()
        .filter(|(n, _, _)| n == "expert_bucket_resolved")
        .map(|(_, v, _)| v.parse::<usize>().unwrap())
        .sum();
    assert_eq!(bucket_resolved, calls_on(true).len());
    let start = dom
        .find("data-expert-calls=\"3\"")
        .expect("bucket of 3 calls");
    let row = &dom[start..start + dom[start..].find("</tr>").unwrap()];
    let rm = unique(&metrics(row));
    check(&rm, "expert_bucket_tasks", 1.0, "1");
    check(&rm, "expert_bucket_resolved", 1.0, "1");

    // Cost per task.
    let costs: Vec<f64> = agent.iter().map(|(_, a)| a.5).collect();
    let total: f64 = costs.iter().sum();
    check(&m, "cost_total", total, &format!("${total:.4}"));
    let cm = total / costs.len() as f64;
    check(&m, "cost_mean", cm, &format!("${cm:.4}"));
    let per_resolved = total / calls_on(true).len() as f64;
    check(
        &m,
        "cost_per_resolved",
        per_resolved,
        &format!("${per_resolved:.4}"),
    );
    let cmax = costs.iter().fold(0.0f64, |a, b| a.max(*b));
    check(&m, "cost_max", cmax, &format!("${cmax:.4}"));
    let hist: usize = m
        .iter()
        .filter(|(k, _)| k.starts_with("cost_hist_"))
        .map(|(_, (v, _))| *v as usize)
        .sum();
    assert_eq!(hist, costs.len());
}

#[test]
fn a_run_without_agent_statistics_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("plain");
    let plain: Vec<Task> = TASKS
        .iter()
        .map(|x| t(x.id, x.repo, x.outcome, x.flaky, None))
        .collect();
    write_run(&run, &plain);
    let o = protege(&["report", run.to_str().unwrap(), "--html"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert_eq!(
        html.matches("no agent statistics in this run").count(),
        3,
        "loops, expert calls and cost sections each say so"
    );
    let m = unique(
        &metrics(&html)
            .into_iter()
            .filter(|(n, _, _)| !n.starts_with("repo_"))
            .collect::<Vec<_>>(),
    );
    check(&m, "tasks", 8.0, "8");
    check(&m, "resolved", 3.0, "3");
    assert!(!m.contains_key("loops_mean") && !m.contains_key("cost_total"));
    // Without --html no page is written.
    let other = tmp.path().join("no-html");
    write_run(&other, &plain);
    assert!(
        protege(&["report", other.to_str().unwrap()])
            .status
            .success()
    );
    assert!(!other.join("report.html").exists());
}
