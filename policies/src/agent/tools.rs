//! Carrying out an agent's actions in its workspace: shell commands, a file viewer with a
//! window, search, and a str_replace editor with undo. Everything goes through the `Sandbox`
//! trait, so the same tools work in Docker and under WASI.

use std::collections::HashMap;
use std::time::Duration;

use protege_sandboxes::{ExecOptions, Sandbox};

use super::actions::Action;

/// Lines shown by the file viewer at once.
pub const WINDOW: usize = 100;

/// The viewer and editor state of one workspace; the sandbox itself is passed to each call, so
/// an episode can own both.
pub struct Tools {
    timeout: Duration,
    observation_limit: usize,
    /// The open file and the first line of its window (1-based).
    open: Option<(String, usize)>,
    /// Earlier contents of edited files, newest last.
    history: HashMap<String, Vec<Option<Vec<u8>>>>,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A path inside `/testbed`, or an error naming it.
fn resolve(path: &str) -> Result<String, String> {
    let rel = path
        .strip_prefix("/testbed/")
        .unwrap_or(path)
        .trim_start_matches("./");
    if rel.is_empty() || rel.starts_with('/') || rel.split('/').any(|c| c == "..") {
        return Err(format!("`{path}` is outside the repository (/testbed)"));
    }
    Ok(format!("/testbed/{rel}"))
}

impl Tools {
    pub fn new(timeout: Duration, observation_limit: usize) -> Self {
        Tools {
            timeout,
            observation_limit,
            open: None,
            history: HashMap::new(),
        }
    }

    fn cap(&self, mut s: String) -> String {
        if s.len() > self.observation_limit {
            let mut cut = self.observation_limit;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push_str("\n[output truncated]");
        }
        s
    }

    async fn run(&self, sb: &dyn Sandbox, command: &str) -> String {
        match sb
            .exec(command, &ExecOptions::with_timeout(self.timeout))
            .await
        {
            Ok(o) if o.timed_out => format!(
                "{}\n[command stopped after {} s]",
                o.output,
                self.timeout.as_secs()
            ),
            Ok(o) => {
                let mut s = o.output;
                if o.exit_code != Some(0) {
                    s.push_str(&format!("\n[exit code {}]", o.exit_code.unwrap_or(-1)));
                }
                if s.trim().is_empty() {
                    "[no output]".into()
                } else {
                    s
                }
            }
            Err(e) => format!("error: {e}"),
        }
    }

    async fn read(&self, sb: &dyn Sandbox, path: &str) -> Result<String, String> {
        let bytes = sb
            .read_file(path)
            .await
            .map_err(|e| format!("cannot read {path}: {e}"))?;
        String::from_utf8(bytes).map_err(|_| format!("{path} is not UTF-8 text"))
    }

    async fn write(&mut self, sb: &dyn Sandbox, path: &str, text: &str) -> Result<(), String> {
        let before = sb.read_file(path).await.ok();
        sb.write_file(path, text.as_bytes())
            .await
            .map_err(|e| format!("cannot write {path}: {e}"))?;
        self.history
            .entry(path.to_string())
            .or_default()
            .push(before);
        Ok(())
    }

    async fn window(&self, sb: &dyn Sandbox) -> String {
        let Some((path, first)) = &self.open else {
            return "no file is open; use `open PATH`".into();
        };
        let text = match self.read(sb, path).await {
            Ok(t) => t,
            Err(e) => return e,
        };
        let lines: Vec<&str> = text.lines().collect();
        let start = (*first).clamp(1, lines.len().max(1));
        let end = (start + WINDOW - 1).min(lines.len());
        let mut s = format!(
            "[File: {} ({} lines total)]\n",
            path.trim_start_matches("/testbed/"),
            lines.len()
        );
        if start > 1 {
            s.push_str(&format!("({} more lines above)\n", start - 1));
        }
        for (i, l) in lines.iter().enumerate().take(end).skip(start - 1) {
            s.push_str(&format!("{}:{l}\n", i + 1));
        }
        if end < lines.len() {
            s.push_str(&format!("({} more lines below)\n", lines.len() - end));
        }
        s
    }

    /// Carries out one action (not `AskExpert` or `Submit`, which the loop handles) and returns
    /// the observation.
    pub async fn apply(&mut self, sb: &dyn Sandbox, action: &Action) -> String {
        let obs = match self.apply_inner(sb, action).await {
            Ok(s) => s,
            Err(e) => format!("error: {e}"),
        };
        self.cap(obs)
    }

    async fn apply_inner(&mut self, sb: &dyn Sandbox, action: &Action) -> Result<String, String> {
        Ok(match action {
            Action::Run(cmd) => self.run(sb, cmd).await,
            Action::Open { path, line } => {
                let p = resolve(path)?;
                self.read(sb, &p).await?;
                // Centre the requested line in the window, as SWE-agent's viewer does.
                self.open = Some((p, line.saturating_sub(WINDOW / 2).max(1)));
                self.window(sb).await
            }
            Action::Goto(line) => {
                let (p, _) = self
                    .open
                    .clone()
                    .ok_or("no file is open; use `open PATH`")?;
                self.open = Some((p, line.saturating_sub(WINDOW / 2).max(1)));
                self.window(sb).await
            }
            Action::ScrollDown | Action::ScrollUp => {
                let (p, first) = self
                    .open
                    .clone()
                    .ok_or("no file is open; use `open PATH`")?;
                let first = if *action == Action::ScrollDown {
                    first + WINDOW
                } else {
                    first.saturating_sub(WINDOW).max(1)
                };
                self.open = Some((p, first));
                self.window(sb).await
            }
            Action::SearchDir { term, dir } => {
                let d = resolve(dir).unwrap_or_else(|_| "/testbed".into());
                self.run(sb, &format!("grep -rn -- {} {}", quote(term), quote(&d)))
                    .await
            }
            Action::SearchFile { term, file } => {
                let f = resolve(file)?;
                self.run(sb, &format!("grep -n -- {} {}", quote(term), quote(&f)))
                    .await
            }
            Action::FindFile { name, dir } => {
                let d = resolve(dir).unwrap_or_else(|_| "/testbed".into());
                self.run(sb, &format!("find {} -name {}", quote(&d), quote(name)))
                    .await
            }
            Action::Create { path, text } => {
                let p = resolve(path)?;
                if sb.read_file(&p).await.is_ok() {
                    return Err(format!("{path} already exists; edit it with str_replace"));
                }
                let mut t = text.clone();
                if !t.ends_with('\n') {
                    t.push('\n');
                }
                self.write(sb, &p, &t).await?;
                format!("created {path}")
            }
            Action::StrReplace { path, old, new } => {
                let p = resolve(path)?;
                let text = self.read(sb, &p).await?;
                let n = if old.is_empty() {
                    0
                } else {
                    text.matches(old.as_str()).count()
                };
                if n != 1 {
                    return Err(format!(
                        "the SEARCH text occurs {n} times in {path}; it must occur exactly once (copy it exactly, with enough lines to be unique)"
                    ));
                }
                let updated = text.replacen(old.as_str(), new, 1);
                self.write(sb, &p, &updated).await?;
                let line = text[..text.find(old.as_str()).unwrap_or(0)]
                    .lines()
                    .count()
                    .max(1);
                self.open = Some((p, line.saturating_sub(WINDOW / 2).max(1)));
                format!("edited {path}\n{}", self.window(sb).await)
            }
            Action::Insert { path, line, text } => {
                let p = resolve(path)?;
                let body = self.read(sb, &p).await?;
                let mut lines: Vec<&str> = body.lines().collect();
                if *line > lines.len() {
                    return Err(format!(
                        "{path} has {} lines; cannot insert after line {line}",
                        lines.len()
                    ));
                }
                let new_lines: Vec<&str> = text.lines().collect();
                lines.splice(*line..*line, new_lines);
                let mut updated = lines.join("\n");
                updated.push('\n');
                self.write(sb, &p, &updated).await?;
                format!(
                    "inserted {} line(s) after line {line} of {path}",
                    text.lines().count()
                )
            }
            Action::UndoEdit { path } => {
                let p = resolve(path)?;
                let prev = self
                    .history
                    .get_mut(&p)
                    .and_then(|h| h.pop())
                    .ok_or_else(|| format!("no edit of {path} to undo"))?;
                match prev {
                    Some(bytes) => sb.write_file(&p, &bytes).await.map_err(|e| e.to_string())?,
                    None => sb.remove_file(&p).await.map_err(|e| e.to_string())?,
                }
                format!("undid the last edit of {path}")
            }
            Action::AskExpert(_) | Action::Submit => {
                return Err("internal: handled by the loop".into());
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_in_testbed() {
        assert_eq!(resolve("a/b.py").unwrap(), "/testbed/a/b.py");
        assert_eq!(resolve("/testbed/a.py").unwrap(), "/testbed/a.py");
        assert_eq!(resolve("./a.py").unwrap(), "/testbed/a.py");
        assert!(resolve("../etc/passwd").is_err());
        assert!(resolve("/etc/passwd").is_err());
        assert!(resolve("a/../../x").is_err());
        assert_eq!(quote("it's"), "'it'\\''s'");
    }
}
