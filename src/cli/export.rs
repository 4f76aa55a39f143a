//! `protege export sft RUN`: a run's agent conversations as chat-format SFT data (docs/sft.md).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use protege_policies::agent::{AgentConfig, sft};
use protege_policies::trajectory::Trajectory;
use protege_results::manifest::Manifest;
use protege_results::store;

use super::exit::Exit;

#[derive(Subcommand)]
pub enum ExportCommand {
    /// One chat conversation per line (OpenAI messages with tool calls, the expert's advice as
    /// the small model observed it), with the tool schema alongside.
    Sft(SftArgs),
}

#[derive(Args)]
pub struct SftArgs {
    /// A run folder, `results/<run_id>`, of `--policy agent`.
    pub run: PathBuf,
    /// Only the instances the run resolved.
    #[arg(long)]
    pub resolved_only: bool,
    /// The JSONL file to write (default RUN/sft.jsonl); the tools go beside it, in
    /// NAME.tools.json.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn export(c: ExportCommand) -> anyhow::Result<ExitCode> {
    match c {
        ExportCommand::Sft(a) => export_sft(a),
    }
}

/// `sft.jsonl` → `sft.tools.json`.
fn tools_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sft".into());
    out.with_file_name(format!("{stem}.tools.json"))
}

fn export_sft(args: SftArgs) -> anyhow::Result<ExitCode> {
    let manifest_path = args.run.join("manifest.json");
    if !manifest_path.exists() {
        bail!(
            "{}: not a run folder (no manifest.json)",
            args.run.display()
        );
    }
    let manifest = Manifest::load(&manifest_path).map_err(anyhow::Error::msg)?;
    // The run's own agent settings say which tools it offered.
    let cfg: AgentConfig = match manifest.config.get("agent") {
        Some(v) => serde_json::from_value(v.clone())
            .with_context(|| format!("{}: config.agent", manifest_path.display()))?,
        None => AgentConfig::default(),
    };
    let loaded = store::load(&args.run.join("records.jsonl"));
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let out = args.out.unwrap_or_else(|| args.run.join("sft.jsonl"));
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?,
    );
    let (mut written, mut skipped) = (0usize, 0usize);
    let mut schema = None;
    for id in manifest.instances.keys() {
        let Some(record) = loaded.latest.get(id) else {
            continue;
        };
        let resolved = record.verdict.resolved();
        if args.resolved_only && !resolved {
            continue;
        }
        let path = args.run.join(format!("trajectories/{id}.json"));
        let traj: Trajectory = match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(t) => t,
            Err(e) => {
                eprintln!("warning: {id}: skipped: {}: {e}", path.display());
                skipped += 1;
                continue;
            }
        };
        if traj.messages.is_empty() {
            eprintln!(
                "warning: {id}: skipped: {} has no conversation (not an agent trajectory)",
                path.display()
            );
            skipped += 1;
            continue;
        }
        let tools = sft::tools(&cfg, &traj);
        // Runs with and without an expert differ in one tool; the file holds the fullest set.
        if schema
            .as_ref()
            .is_none_or(|s: &Vec<_>| s.len() < tools.len())
        {
            schema = Some(tools.clone());
        }
        writeln!(file, "{}", sft::line(&traj, resolved, &tools))
            .with_context(|| format!("writing {}", out.display()))?;
        written += 1;
    }
    file.flush()
        .with_context(|| format!("writing {}", out.display()))?;
    let tools_file = tools_path(&out);
    let schema = schema.unwrap_or_else(|| cfg.tools(false));
    std::fs::write(
        &tools_file,
        serde_json::to_string_pretty(&schema).expect("JSON"),
    )
    .with_context(|| format!("writing {}", tools_file.display()))?;
    eprintln!(
        "sft: {written} conversation(s) in {}, tools in {}{}",
        out.display(),
        tools_file.display(),
        if skipped > 0 {
            format!(" ({skipped} skipped)")
        } else {
            String::new()
        }
    );
    Ok(Exit::Success.into())
}
