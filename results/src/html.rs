//! `report.html`: one self-contained page per run (inline CSS and SVG, no script, no external
//! asset). Every number on it is also machine-readable: `<span data-metric="NAME"
//! data-value="EXACT">shown</span>`, per-repository rows carry `data-repo`, histogram bins
//! `data-bin`. The same records give the same page, byte for byte.
//!
//! Agent statistics (loops, expert calls, tokens, cost) are read from the raw `records.jsonl`
//! lines (`record["agent"]`) as JSON values, so the page does not depend on the exact Rust shape
//! of those statistics; a run without them says so.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::manifest::Manifest;
use crate::metrics::{per_repo, percentile, summarize};
use crate::{Outcome, Record};

/// The `agent` object of each instance's latest line in `records.jsonl` (`Value::Null` when
/// that line has none). Unreadable lines are skipped, as [`crate::store::load`] does.
pub fn agent_stats_from_jsonl(path: &Path) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return out;
    };
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(id) = v.get("instance_id").and_then(Value::as_str) else {
            continue;
        };
        let agent = v.get("agent").cloned().unwrap_or(Value::Null);
        out.insert(id.to_string(), agent);
    }
    out
}

/// One task's agent statistics, each field optional.
#[derive(Debug, Clone, Default, PartialEq)]
struct AgentRow {
    resolved: bool,
    steps: Option<f64>,
    loops: Option<f64>,
    expert_calls: Option<f64>,
    expert_tokens: Option<f64>,
    total_tokens: Option<f64>,
    cost: Option<f64>,
    longest_run: Option<f64>,
}

impl AgentRow {
    fn from_value(v: &Value, resolved: bool) -> Option<AgentRow> {
        let obj = v.as_object()?;
        let num = |k: &str| obj.get(k).and_then(Value::as_f64).filter(|x| x.is_finite());
        let total_tokens =
            num("total_tokens").or_else(|| match (num("slm_tokens"), num("expert_tokens")) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
            });
        Some(AgentRow {
            resolved,
            steps: num("steps"),
            loops: num("loops"),
            expert_calls: num("expert_calls"),
            expert_tokens: num("expert_tokens"),
            total_tokens,
            cost: num("cost"),
            longest_run: num("longest_run"),
        })
    }
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// A number shown to people, with its exact value for machines.
fn metric(name: &str, value: f64, shown: &str) -> String {
    format!(
        "<span class=\"m\" data-metric=\"{}\" data-value=\"{}\">{}</span>",
        esc(name),
        value,
        esc(shown)
    )
}

/// An integer count (its text is its value).
fn count(name: &str, n: usize) -> String {
    metric(name, n as f64, &n.to_string())
}

/// A real number shown with `decimals` decimals.
fn real(name: &str, x: f64, decimals: usize) -> String {
    metric(name, x, &format!("{x:.decimals$}"))
}

fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// `real(...)` or an `n/a` when there is nothing to average.
fn opt_real(name: &str, x: Option<f64>, decimals: usize) -> String {
    match x {
        Some(x) => real(name, x, decimals),
        None => "<span class=\"na\">n/a</span>".into(),
    }
}

const CSS: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1f2328;background:#fff}
h1{font-size:1.5rem;margin-bottom:.25rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.25rem}
.meta{color:#59636e;font-size:.9rem}.meta code{font-size:.85rem}
.headline{font-size:1.1rem}.headline .big .m{font-size:2rem;font-weight:600}
table{border-collapse:collapse;margin:.5rem 0}th,td{padding:.2rem .6rem;text-align:left;border-bottom:1px solid #eaeef2;vertical-align:middle}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.none{color:#59636e;font-style:italic}.na{color:#8c959f}
svg text{font-family:inherit;font-size:11px;fill:#1f2328}
.bar{fill:#4c8bf5}.ok{fill:#2da44e}.ko{fill:#d0d7de}.band{fill:#b6d4fe}.mark{fill:#0a3069}.axis{stroke:#8c959f;stroke-width:1}
.stats span.m{font-weight:600}
";

/// The page for a run: its manifest, its latest record per instance (instances of the manifest
/// only), and the raw `agent` values from [`agent_stats_from_jsonl`].
pub fn render(manifest: &Manifest, latest: &[&Record], agent: &HashMap<String, Value>) -> String {
    let repos: Vec<&str> = manifest.instances.values().map(String::as_str).collect();
    let summary = summarize(repos.len(), latest.iter().copied());
    let repo_rows = per_repo(&repos, latest.iter().copied());
    let mut rows: Vec<(&str, AgentRow)> = latest
        .iter()
        .filter_map(|r| {
            let v = agent.get(&r.instance_id)?;
            Some((
                r.instance_id.as_str(),
                AgentRow::from_value(v, r.verdict.outcome == Outcome::Resolved)?,
            ))
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let rows: Vec<AgentRow> = rows.into_iter().map(|(_, r)| r).collect();

    let mut h = String::new();
    let title = format!("protege report: {}", manifest.run_id);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    let _ = writeln!(h, "<h1>Run <code>{}</code></h1>", esc(&manifest.run_id));
    let harness = crate::compare::harness_version(manifest);
    let _ = writeln!(
        h,
        "<p class=\"meta\">dataset <b>{}</b> (sha256 <code>{}</code>) · policy <b>{}</b> · \
         sandbox <b>{}</b> · harness <b>{}</b> · protege {} (<code>{}</code>)</p>",
        esc(&manifest.dataset),
        esc(&manifest.dataset_sha256),
        esc(&manifest.policy),
        esc(&manifest.sandbox),
        esc(&harness),
        esc(&manifest.protege_version),
        esc(&manifest.protege_commit),
    );

    // Pass@1 and its Wilson interval.
    h.push_str("<section id=\"pass-at-1\">\n<h2>Pass@1</h2>\n");
    let _ = writeln!(
        h,
        "<p class=\"headline\"><span class=\"big\">{}</span> · {} of {} tasks resolved · \
         95% Wilson interval {} – {}</p>",
        metric("pass_at_1", summary.pass_at_1, &pct(summary.pass_at_1)),
        count("resolved", summary.resolved),
        count("tasks", summary.tasks),
        metric("ci95_low", summary.ci95_low, &pct(summary.ci95_low)),
        metric("ci95_high", summary.ci95_high, &pct(summary.ci95_high)),
    );
    h.push_str(&interval_svg(
        summary.pass_at_1,
        summary.ci95_low,
        summary.ci95_high,
    ));
    h.push_str("<table class=\"outcomes\">\n<tr><th>outcome</th><th class=\"n\">tasks</th></tr>\n");
    let not_finished = summary.tasks - summary.finished.min(summary.tasks);
    for (label, name, n) in [
        ("resolved", "outcome_resolved", summary.resolved),
        ("unresolved", "unresolved", summary.unresolved),
        ("empty patch", "empty_patch", summary.empty_patch),
        (
            "patch not applied",
            "patch_not_applied",
            summary.patch_not_applied,
        ),
        ("timeout", "timeout", summary.timeout),
        ("infrastructure error", "infra_error", summary.infra_error),
        ("not finished", "not_finished", not_finished),
    ] {
        let _ = writeln!(
            h,
            "<tr><td>{label}</td><td class=\"n\">{}</td></tr>",
            count(name, n)
        );
    }
    let _ = writeln!(
        h,
        "<tr><td>flaky tests (not counted as passes)</td><td class=\"n\">{}</td></tr>\n</table>\n</section>",
        count("flaky_tests", summary.flaky_tests)
    );

    // Per repository.
    h.push_str("<section id=\"repos\">\n<h2>Per repository</h2>\n");
    if repo_rows.is_empty() {
        h.push_str("<p class=\"none\">no tasks in this run</p>\n");
    } else {
        h.push_str(
            "<table class=\"repos\">\n<tr><th>repository</th><th class=\"n\">resolved</th>\
             <th class=\"n\">tasks</th><th class=\"n\">Pass@1</th><th></th></tr>\n",
        );
        for r in &repo_rows {
            let w = (200.0 * r.pass_at_1).round();
            let _ = writeln!(
                h,
                "<tr data-repo=\"{}\"><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td><svg width=\"204\" height=\"14\" viewBox=\"0 0 204 14\" \
                 role=\"img\"><rect class=\"ko\" x=\"0\" y=\"2\" width=\"200\" height=\"10\"/>\
                 <rect class=\"ok\" x=\"0\" y=\"2\" width=\"{w}\" height=\"10\"/></svg></td></tr>",
                esc(&r.repo),
                esc(&r.repo),
                count("repo_resolved", r.resolved),
                count("repo_tasks", r.tasks),
                metric("repo_pass_at_1", r.pass_at_1, &pct(r.pass_at_1)),
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("</section>\n");

    h.push_str(&agent_sections(&rows, summary.tasks));
    h.push_str(&paper_metrics(&rows));
    h.push_str("</body>\n</html>\n");
    h
}

/// A 0–100% axis with the Wilson band and a marker at Pass@1.
fn interval_svg(p: f64, lo: f64, hi: f64) -> String {
    let x = |f: f64| 10.0 + 500.0 * f;
    let mut s = String::from(
        "<svg width=\"540\" height=\"44\" viewBox=\"0 0 540 44\" role=\"img\" \
         aria-label=\"Pass@1 with its 95% Wilson interval\">\n",
    );
    let _ = writeln!(
        s,
        "<line class=\"axis\" x1=\"10\" y1=\"20\" x2=\"510\" y2=\"20\"/>\
         <rect class=\"band\" x=\"{:.1}\" y=\"12\" width=\"{:.1}\" height=\"16\"/>\
         <rect class=\"mark\" x=\"{:.1}\" y=\"8\" width=\"3\" height=\"24\"/>",
        x(lo),
        (x(hi) - x(lo)).max(1.0),
        x(p) - 1.5
    );
    for t in [0, 25, 50, 75, 100] {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"42\" text-anchor=\"middle\" data-tick=\"{t}\">{t}%</text>",
            x(t as f64 / 100.0)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// One bar of a histogram.
struct Bin {
    /// `data-bin` and the suffix of the count's metric name.
    key: String,
    label: String,
    count: usize,
    /// Extra attributes of the bar's group (`data-low="…"`).
    attrs: String,
}

/// Vertical bars, a count above each (as `{prefix}_{key}` metrics) and a label below.
fn histogram_svg(prefix: &str, aria: &str, bw: f64, bins: &[Bin]) -> String {
    let max = bins.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    let (gap, ph, top) = (8.0, 120.0, 16.0);
    let width = 10.0 + bins.len() as f64 * (bw + gap);
    let height = top + ph + 34.0;
    let mut s = format!(
        "<svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"{}\">\n<line class=\"axis\" x1=\"4\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>\n",
        esc(aria),
        top + ph,
        width - 4.0,
        top + ph
    );
    for (i, b) in bins.iter().enumerate() {
        let x = 10.0 + i as f64 * (bw + gap);
        let bh = ph * b.count as f64 / max as f64;
        let y = top + ph - bh;
        let _ = writeln!(
            s,
            "<g data-bin=\"{}\"{}><title>{}: {}</title>\
             <rect class=\"bar\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw}\" height=\"{bh:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"m\" data-metric=\"{}_{}\" \
             data-value=\"{}\">{}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text></g>",
            esc(&b.key),
            b.attrs,
            esc(&b.label),
            b.count,
            x + bw / 2.0,
            (y - 3.0).max(10.0),
            esc(prefix),
            esc(&b.key),
            b.count,
            b.count,
            x + bw / 2.0,
            top + ph + 14.0,
            esc(&b.label),
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Integer bins 0..=cap, the last one `cap+` when some value exceeds it.
fn integer_bins(values: &[f64], cap: usize) -> Vec<(String, String, usize)> {
    let max = values.iter().fold(0.0f64, |m, v| m.max(*v)).max(0.0) as usize;
    let top = max.min(cap);
    let mut counts = vec![0usize; top + 1];
    for v in values {
        let k = (v.max(0.0).floor() as usize).min(top);
        counts[k] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(k, n)| {
            let label = if k == top && max > cap {
                format!("{k}+")
            } else {
                k.to_string()
            };
            (k.to_string(), label, n)
        })
        .collect()
}

const NO_AGENT: &str = "<p class=\"none\">no agent statistics in this run</p>\n";

fn agent_sections(rows: &[AgentRow], tasks: usize) -> String {
    let mut h = String::new();
    let pick =
        |f: fn(&AgentRow) -> Option<f64>| -> Vec<f64> { rows.iter().filter_map(f).collect() };

    // Loops.
    h.push_str("<section id=\"loops\">\n<h2>Loops per task</h2>\n");
    let loops = pick(|r| r.loops);
    if rows.is_empty() {
        h.push_str(NO_AGENT);
    } else if loops.is_empty() {
        h.push_str("<p class=\"none\">no loop counts in this run's agent statistics</p>\n");
    } else {
        let steps = pick(|r| r.steps);
        let _ = writeln!(
            h,
            "<p class=\"stats\">{} of {} tasks have agent statistics · mean steps {} · \
             mean loops {} · median loops {} · tasks with a loop {} · loops in all {}</p>",
            count("agent_tasks", rows.len()),
            count("tasks_total", tasks),
            opt_real("steps_mean", mean(&steps), 2),
            opt_real("loops_mean", mean(&loops), 2),
            opt_real("loops_median", percentile(&loops, 50.0), 0),
            count(
                "tasks_with_loops",
                loops.iter().filter(|x| **x > 0.0).count()
            ),
            real("loops_total", loops.iter().sum(), 0),
        );
        let bins: Vec<Bin> = integer_bins(&loops, 15)
            .into_iter()
            .map(|(key, label, count)| Bin {
                key,
                label,
                count,
                attrs: String::new(),
            })
            .collect();
        h.push_str(&histogram_svg(
            "loops_hist",
            "tasks by number of loops",
            34.0,
            &bins,
        ));
    }
    h.push_str("</section>\n");

    // Expert calls vs resolved.
    h.push_str("<section id=\"expert\">\n<h2>Expert calls and resolution</h2>\n");
    let with_calls: Vec<(f64, bool)> = rows
        .iter()
        .filter_map(|r| Some((r.expert_calls?, r.resolved)))
        .collect();
    if rows.is_empty() {
        h.push_str(NO_AGENT);
    } else if with_calls.is_empty() {
        h.push_str("<p class=\"none\">no expert-call counts in this run's agent statistics</p>\n");
    } else {
        let calls: Vec<f64> = with_calls.iter().map(|c| c.0).collect();
        let on = |res: bool| -> Vec<f64> {
            with_calls
                .iter()
                .filter(|c| c.1 == res)
                .map(|c| c.0)
                .collect()
        };
        let expert_tokens: f64 = pick(|r| r.expert_tokens).iter().sum();
        let total_tokens: f64 = pick(|r| r.total_tokens).iter().sum();
        let share = (total_tokens > 0.0).then(|| expert_tokens / total_tokens);
        let _ = writeln!(
            h,
            "<p class=\"stats\">expert calls in all {} · mean per task {} · mean on resolved \
             tasks {} · mean on unresolved tasks {} · expert share of tokens {}</p>",
            real("expert_calls_total", calls.iter().sum(), 0),
            opt_real("expert_calls_mean", mean(&calls), 2),
            opt_real("expert_calls_mean_resolved", mean(&on(true)), 2),
            opt_real("expert_calls_mean_unresolved", mean(&on(false)), 2),
            match share {
                Some(s) => metric("expert_token_share", s, &pct(s)),
                None => "<span class=\"na\">n/a</span>".into(),
            },
        );
        // Tasks and resolved tasks by number of expert calls.
        let bins = integer_bins(&calls, 10);
        let top = bins.len() - 1;
        let capped = |c: f64| (c.max(0.0).floor() as usize).min(top);
        let mut resolved_by = vec![0usize; bins.len()];
        for (c, res) in &with_calls {
            if *res {
                resolved_by[capped(*c)] += 1;
            }
        }
        h.push_str(
            "<table class=\"expert\">\n<tr><th>expert calls</th><th class=\"n\">tasks</th>\
             <th class=\"n\">resolved</th><th class=\"n\">resolved share</th><th></th></tr>\n",
        );
        let widest = bins.iter().map(|b| b.2).max().unwrap_or(1).max(1);
        for ((key, label, n), res) in bins.iter().zip(&resolved_by) {
            let rate = if *n > 0 { *res as f64 / *n as f64 } else { 0.0 };
            let wn = (200.0 * *n as f64 / widest as f64).round();
            let wr = (200.0 * *res as f64 / widest as f64).round();
            let _ = writeln!(
                h,
                "<tr data-expert-calls=\"{}\"><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td><svg width=\"204\" height=\"14\" viewBox=\"0 0 204 14\" \
                 role=\"img\"><rect class=\"ko\" x=\"0\" y=\"2\" width=\"{wn}\" height=\"10\"/>\
                 <rect class=\"ok\" x=\"0\" y=\"2\" width=\"{wr}\" height=\"10\"/></svg></td></tr>",
                esc(key),
                esc(label),
                count("expert_bucket_tasks", *n),
                count("expert_bucket_resolved", *res),
                if *n > 0 {
                    metric("expert_bucket_resolved_share", rate, &pct(rate))
                } else {
                    "<span class=\"na\">n/a</span>".into()
                },
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("</section>\n");

    // Cost per task.
    h.push_str("<section id=\"cost\">\n<h2>Cost per task</h2>\n");
    let with_cost: Vec<(f64, bool)> = rows
        .iter()
        .filter_map(|r| Some((r.cost?, r.resolved)))
        .collect();
    if rows.is_empty() {
        h.push_str(NO_AGENT);
    } else if with_cost.is_empty() {
        h.push_str("<p class=\"none\">no cost in this run's agent statistics</p>\n");
    } else {
        let costs: Vec<f64> = with_cost.iter().map(|c| c.0).collect();
        let total: f64 = costs.iter().sum();
        let resolved = with_cost.iter().filter(|c| c.1).count();
        let money = |name: &str, x: Option<f64>| match x {
            Some(x) => metric(name, x, &format!("${x:.4}")),
            None => "<span class=\"na\">n/a</span>".into(),
        };
        let _ = writeln!(
            h,
            "<p class=\"stats\">{} tasks with a cost (US dollars) · in all {} · mean {} · \
             median {} · 90th percentile {} · most {} · per resolved task {}</p>",
            count("cost_tasks", costs.len()),
            money("cost_total", Some(total)),
            money("cost_mean", mean(&costs)),
            money("cost_median", percentile(&costs, 50.0)),
            money("cost_p90", percentile(&costs, 90.0)),
            money("cost_max", percentile(&costs, 100.0)),
            money(
                "cost_per_resolved",
                (resolved > 0).then(|| total / resolved as f64)
            ),
        );
        let max = costs.iter().fold(0.0f64, |m, c| m.max(*c));
        let nbins = if max > 0.0 { 10 } else { 1 };
        let width = if max > 0.0 { max / nbins as f64 } else { 1.0 };
        let mut counts: BTreeMap<usize, usize> = (0..nbins).map(|i| (i, 0)).collect();
        for c in &costs {
            let i = ((c.max(0.0) / width).floor() as usize).min(nbins - 1);
            *counts.entry(i).or_default() += 1;
        }
        let bins: Vec<Bin> = counts
            .into_iter()
            .map(|(i, n)| {
                let (lo, hi) = (i as f64 * width, (i + 1) as f64 * width);
                let hi = if i + 1 == nbins { max.max(hi) } else { hi };
                Bin {
                    key: i.to_string(),
                    label: format!("≤${hi:.3}"),
                    count: n,
                    attrs: format!(" data-low=\"{lo}\" data-high=\"{hi}\""),
                }
            })
            .collect();
        h.push_str(&histogram_svg("cost_hist", "tasks by cost", 50.0, &bins));
    }
    h.push_str("</section>\n");
    h
}

/// The metrics reviews of the paper report (loop runs longer than 10 steps, mean steps,
/// expert calls and expert-token share, median cost), for all tasks with agent statistics and
/// split by resolved. Absent when the run has no agent statistics (the sections above say so).
fn paper_metrics(rows: &[AgentRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut h = String::from(
        "<section id=\"paper-metrics\">\n<h2>Loops, steps, expert use and cost by resolution</h2>\n\
         <table class=\"paper\">\n<tr><th>tasks</th><th class=\"n\">n</th>\
         <th class=\"n\">loop run &gt; 10 steps</th><th class=\"n\">mean steps</th>\
         <th class=\"n\">expert calls/task</th><th class=\"n\">expert-token share</th>\
         <th class=\"n\">median cost/task</th></tr>\n",
    );
    let na = || "<span class=\"na\">n/a</span>".to_string();
    for (group, key, keep) in [
        ("all", "all", None),
        ("resolved", "resolved", Some(true)),
        ("not resolved", "unresolved", Some(false)),
    ] {
        let g: Vec<&AgentRow> = rows
            .iter()
            .filter(|r| keep.is_none_or(|k| r.resolved == k))
            .collect();
        let pick = |f: fn(&AgentRow) -> Option<f64>| -> Vec<f64> {
            g.iter().filter_map(|r| f(r)).collect()
        };
        let runs = pick(|r| r.longest_run);
        let long = (!runs.is_empty()).then(|| {
            runs.iter()
                .filter(|x| **x > crate::tables::LONG_RUN as f64)
                .count() as f64
                / runs.len() as f64
        });
        let et: f64 = pick(|r| r.expert_tokens).iter().sum();
        let tt: f64 = pick(|r| r.total_tokens).iter().sum();
        let share = (tt > 0.0).then(|| et / tt);
        let name = |m: &str| format!("{m}_{key}");
        let _ = writeln!(
            h,
            "<tr data-group=\"{key}\"><td>{group}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            count(&name("paper_tasks"), g.len()),
            match long {
                Some(x) => metric(&name("long_loop_share"), x, &pct(x)),
                None => na(),
            },
            opt_real(&name("paper_steps_mean"), mean(&pick(|r| r.steps)), 1),
            opt_real(
                &name("paper_expert_calls_mean"),
                mean(&pick(|r| r.expert_calls)),
                2
            ),
            match share {
                Some(x) => metric(&name("paper_expert_token_share"), x, &pct(x)),
                None => na(),
            },
            match percentile(&pick(|r| r.cost), 50.0) {
                Some(x) => metric(&name("paper_cost_median"), x, &format!("${x:.4}")),
                None => na(),
            },
        );
    }
    h.push_str("</table>\n</section>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Report, Stats, Verdict};

    fn record(id: &str, repo: &str, outcome: Outcome) -> Record {
        serde_json::from_value(serde_json::json!({
            "instance_id": id,
            "repo": repo,
            "policy": "p",
            "patch_sha256": "",
            "cache_key": "",
            "sandbox": "docker",
            "verdict": Verdict {
                outcome,
                report: Report::default(),
                infra_error: None,
                patch_problem: None,
                flaky: vec![],
            },
            "stats": Stats::default(),
        }))
        .unwrap()
    }

    fn manifest() -> Manifest {
        Manifest {
            run_id: "r<1>".into(),
            dataset: "mini".into(),
            config: serde_json::json!({"harness": "7"}),
            instances: [("a-1", "o/a"), ("a-2", "o/a"), ("b-1", "o/b")]
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn escapes_and_counts_without_agent_statistics() {
        let m = manifest();
        let r1 = record("a-1", "o/a", Outcome::Resolved);
        let r2 = record("b-1", "o/b", Outcome::Unresolved);
        let page = render(&m, &[&r1, &r2], &HashMap::new());
        assert!(page.contains("<code>r&lt;1&gt;</code>"));
        assert!(page.contains("data-metric=\"tasks\" data-value=\"3\">3<"));
        assert!(page.contains("data-metric=\"resolved\" data-value=\"1\">1<"));
        assert!(
            page.contains("data-metric=\"pass_at_1\" data-value=\"0.3333333333333333\">33.3%<")
        );
        assert!(page.contains("data-metric=\"not_finished\" data-value=\"1\">1<"));
        assert!(page.contains("<tr data-repo=\"o/a\">"));
        assert_eq!(page.matches(NO_AGENT).count(), 3);
        assert!(
            !page.contains("<script") && !page.contains("http://") && !page.contains("https://")
        );
        // Same input, same bytes.
        assert_eq!(page, render(&m, &[&r1, &r2], &HashMap::new()));
    }

    #[test]
    fn agent_statistics_are_summarised() {
        let m = manifest();
        let r1 = record("a-1", "o/a", Outcome::Resolved);
        let r2 = record("a-2", "o/a", Outcome::Unresolved);
        let r3 = record("b-1", "o/b", Outcome::Unresolved);
        let agent: HashMap<String, Value> = [
            ("a-1", serde_json::json!({"steps": 10, "loops": 0, "expert_calls": 1, "slm_tokens": 900, "expert_tokens": 100, "cost": 0.5})),
            ("a-2", serde_json::json!({"steps": 30, "loops": 20, "expert_calls": 4, "slm_tokens": 1500, "expert_tokens": 500, "cost": 1.5})),
            ("b-1", Value::Null),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let page = render(&m, &[&r1, &r2, &r3], &agent);
        assert!(!page.contains(NO_AGENT));
        assert!(page.contains("data-metric=\"agent_tasks\" data-value=\"2\">2<"));
        assert!(page.contains("data-metric=\"loops_mean\" data-value=\"10\">10.00<"));
        // 20 loops land in the capped `15+` bin.
        assert!(page.contains(">15+<"));
        assert!(page.contains("data-metric=\"loops_hist_15\" data-value=\"1\""));
        assert!(page.contains("data-metric=\"loops_hist_0\" data-value=\"1\""));
        assert!(page.contains("data-metric=\"expert_calls_mean_resolved\" data-value=\"1\">1.00<"));
        assert!(page.contains("data-metric=\"expert_token_share\" data-value=\"0.2\">20.0%<"));
        assert!(page.contains("data-metric=\"cost_total\" data-value=\"2\">$2.0000<"));
        assert!(page.contains("data-metric=\"cost_per_resolved\" data-value=\"2\">$2.0000<"));
    }

    #[test]
    fn the_paper_metrics_are_split_by_resolution() {
        let m = manifest();
        let r1 = record("a-1", "o/a", Outcome::Resolved);
        let r2 = record("a-2", "o/a", Outcome::Unresolved);
        let r3 = record("b-1", "o/b", Outcome::Unresolved);
        let agent: HashMap<String, Value> = [
            ("a-1", serde_json::json!({"steps": 20, "longest_run": 4, "expert_calls": 4, "slm_tokens": 890, "expert_tokens": 110, "cost": 0.5})),
            ("a-2", serde_json::json!({"steps": 60, "longest_run": 11, "expert_calls": 0, "slm_tokens": 1000, "expert_tokens": 0, "cost": 1.5})),
            ("b-1", serde_json::json!({"steps": 40, "longest_run": 10, "expert_calls": 2, "slm_tokens": 100, "expert_tokens": 0, "cost": 3.0})),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let page = render(&m, &[&r1, &r2, &r3], &agent);
        let has = |s: &str| assert!(page.contains(s), "missing {s}");
        has("data-metric=\"long_loop_share_all\" data-value=\"0.3333333333333333\">33.3%<");
        has("data-metric=\"long_loop_share_resolved\" data-value=\"0\">0.0%<");
        has("data-metric=\"long_loop_share_unresolved\" data-value=\"0.5\">50.0%<");
        has("data-metric=\"paper_steps_mean_all\" data-value=\"40\">40.0<");
        has("data-metric=\"paper_expert_calls_mean_resolved\" data-value=\"4\">4.00<");
        has("data-metric=\"paper_expert_token_share_resolved\" data-value=\"0.11\">11.0%<");
        has("data-metric=\"paper_cost_median_all\" data-value=\"1.5\">$1.5000<");
        has("data-metric=\"paper_cost_median_unresolved\" data-value=\"1.5\">$1.5000<");
        // Without agent statistics the section is left out (the sections above say so).
        assert!(!render(&m, &[&r1], &HashMap::new()).contains("paper-metrics"));
    }

    #[test]
    fn latest_line_wins_for_agent_statistics() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("records.jsonl");
        std::fs::write(
            &p,
            "{\"instance_id\":\"a\",\"agent\":{\"loops\":3}}\n{\"instance_id\":\"b\",\"agent\":{\"loops\":1}}\n\
             torn{\n{\"instance_id\":\"a\"}\n",
        )
        .unwrap();
        let m = agent_stats_from_jsonl(&p);
        assert_eq!(m["a"], Value::Null);
        assert_eq!(m["b"]["loops"], 1);
    }
}
