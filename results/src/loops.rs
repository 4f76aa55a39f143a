//! The paper's loop measure: runs of consecutive identical *base commands*.
//!
//! A base command is what an action does, with its arguments dropped: `A=1 python x.py` and
//! `cd /testbed && python y.py` are both `python`. Reviews of SWE-Protégé describe it as: strip
//! leading environment assignments, keep only the last part of `&&` / `;` chains, keep two words
//! for `git status` / `git diff`, and count `grep`, `find` and `str_replace_editor view` as one
//! command each. Every rule is a field of [`LoopConfig`], so a trainer can change them.
//!
//! R_loop = max(cap, −per_step·(max(0, s₁ − first_threshold + 1) + Σⱼ≥₂ max(0, sⱼ − threshold + 1)))
//! over the run lengths s. Which run is s₁ is [`FirstRun`]: by default the chronologically first
//! run of the trajectory (the opening exploration, typically views and searches, gets the longer
//! allowance); `longest` gives that allowance to the longest run instead.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which run gets the longer allowance `first_threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FirstRun {
    /// The first run of the trajectory, in time.
    #[default]
    Chronological,
    /// The longest run (the earliest of equally long ones).
    Longest,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoopConfig {
    /// Allowance of the first run: it is charged from its `first_threshold`-th step on.
    pub first_threshold: usize,
    /// Allowance of every other run.
    pub threshold: usize,
    pub first_run: FirstRun,
    /// Penalty per step beyond an allowance.
    pub per_step: f64,
    /// R_loop never goes below this.
    pub cap: f64,
    /// Commands whose first two words are kept (`git status`, not `git`).
    pub two_words: Vec<String>,
    /// protege's own agent actions mapped to the SWE-agent commands they stand for, so the
    /// measure is the same in both action sets (`open` views a file like
    /// `str_replace_editor view`).
    pub aliases: BTreeMap<String, String>,
}

impl Default for LoopConfig {
    fn default() -> Self {
        let view = "str_replace_editor view";
        let aliases = [
            ("open", view),
            ("view", view),
            ("goto", view),
            ("scroll_down", view),
            ("scroll_up", view),
            ("search_dir", "grep"),
            ("search_file", "grep"),
            ("find_file", "find"),
        ];
        LoopConfig {
            first_threshold: 15,
            threshold: 8,
            first_run: FirstRun::Chronological,
            per_step: 0.5,
            cap: -10.0,
            two_words: vec!["git status".into(), "git diff".into(), view.into()],
            aliases: aliases
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }
}

/// What the loop measure found in one trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LoopMeasure {
    /// Length of every run, in order.
    pub runs: Vec<usize>,
    /// The index in `runs` that got the `first_threshold` allowance.
    pub first: Option<usize>,
    /// Σ of the steps beyond the allowances (before `per_step` and the cap).
    pub excess: usize,
    pub r_loop: f64,
}

impl LoopMeasure {
    pub fn longest(&self) -> usize {
        self.runs.iter().copied().max().unwrap_or(0)
    }
}

/// Splits `s` at `&&` and `;` outside quotes; the parts, trimmed.
fn chain_parts(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let (mut parts, mut start, mut i) = (Vec::new(), 0, 0);
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(b'"') if c == b'\\' => i += 1,
            Some(_) => {}
            None if c == b'\\' => i += 1,
            None if c == b'\'' || c == b'"' => quote = Some(c),
            None if c == b';' => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            None if c == b'&' && b.get(i + 1) == Some(&b'&') => {
                parts.push(&s[start..i]);
                start = i + 2;
                i += 1;
            }
            None => {}
        }
        i += 1;
    }
    parts.push(&s[start.min(s.len())..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            let mut chars = name.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

impl LoopConfig {
    /// The base command of one action: its command line (the first line; what follows is an
    /// editor command's text), the last part of a `&&` / `;` chain, without leading environment
    /// assignments, reduced to its first word (two for the `two_words` commands), aliases
    /// applied. An action with no command is `<none>` (a reply the agent could not parse:
    /// repeating it is a loop too).
    pub fn base_command(&self, action: &str) -> String {
        let line = action.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let last = chain_parts(line).pop().unwrap_or("");
        let words: Vec<&str> = last
            .split_whitespace()
            .skip_while(|w| is_assignment(w))
            .collect();
        let Some(first) = words.first() else {
            return "<none>".into();
        };
        let first = self.aliases.get(*first).map_or(*first, String::as_str);
        if let Some(second) = words.get(1) {
            let two = format!("{first} {second}");
            if self.two_words.contains(&two) {
                return two;
            }
        }
        first.to_string()
    }

    /// Runs of identical base commands and R_loop, over the small model's actions in order.
    pub fn measure<'a>(&self, actions: impl IntoIterator<Item = &'a str>) -> LoopMeasure {
        let mut runs: Vec<usize> = Vec::new();
        let mut prev: Option<String> = None;
        for a in actions {
            let base = self.base_command(a);
            if prev.as_ref() == Some(&base) {
                *runs.last_mut().expect("a run is open") += 1;
            } else {
                runs.push(1);
                prev = Some(base);
            }
        }
        let first = match self.first_run {
            _ if runs.is_empty() => None,
            FirstRun::Chronological => Some(0),
            // max_by_key keeps the last maximum; reversing makes it the earliest.
            FirstRun::Longest => runs
                .iter()
                .enumerate()
                .rev()
                .max_by_key(|(_, s)| **s)
                .map(|(i, _)| i),
        };
        let over = |s: usize, t: usize| (s + 1).saturating_sub(t);
        let excess = runs
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                over(
                    s,
                    if Some(i) == first {
                        self.first_threshold
                    } else {
                        self.threshold
                    },
                )
            })
            .sum::<usize>();
        let r_loop = if excess == 0 {
            0.0
        } else {
            (-self.per_step * excess as f64).max(self.cap)
        };
        LoopMeasure {
            runs,
            first,
            excess,
            r_loop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(a: &str) -> String {
        LoopConfig::default().base_command(a)
    }

    #[test]
    fn base_commands_normalise_prefixes_chains_and_subcommands() {
        assert_eq!(base("A=1 B=2 python x.py"), "python");
        assert_eq!(base("PYTHONPATH=. pytest -q tests/"), "pytest");
        assert_eq!(base("cd /testbed && python reproduce.py"), "python");
        assert_eq!(base("cd /testbed; ls -la"), "ls");
        assert_eq!(base("cd a && cd b; X=1 grep -rn foo ."), "grep");
        assert_eq!(base("git status"), "git status");
        assert_eq!(base("git diff src/a.py"), "git diff");
        assert_eq!(
            base("git log -3"),
            "git",
            "other git subcommands are one word"
        );
        assert_eq!(base("grep -rn 'def foo' src"), "grep");
        assert_eq!(base("find . -name '*.py'"), "find");
        assert_eq!(
            base("str_replace_editor view /testbed/a.py"),
            "str_replace_editor view"
        );
        assert_eq!(
            base("str_replace_editor create /testbed/b.py"),
            "str_replace_editor"
        );
        // protege's own tools stand for SWE-agent's.
        assert_eq!(base("open src/a.py 40"), "str_replace_editor view");
        assert_eq!(base("search_dir foo"), "grep");
        assert_eq!(base("find_file a.py"), "find");
        // Separators inside quotes do not split; an editor body does not count.
        assert_eq!(base("echo 'a && b; c' && cat x"), "cat");
        assert_eq!(base("python -c \"import a; print(a)\""), "python");
        assert_eq!(base("create a.py\nimport os; os.exit()"), "create");
        assert_eq!(base(""), "<none>");
        assert_eq!(base("cd x &&"), "cd", "an empty last part is not a command");
        assert_eq!(base("X=1"), "<none>");
        assert_eq!(
            base("1x=2 ls"),
            "1x=2",
            "not an assignment: a name starts with a letter"
        );
        assert_eq!(
            base("a-b=1 ls"),
            "a-b=1",
            "not an assignment: `-` in the name"
        );
    }

    fn runs_of(spec: &[(&str, usize)]) -> Vec<String> {
        spec.iter()
            .flat_map(|(a, n)| std::iter::repeat_n(a.to_string(), *n))
            .collect()
    }

    fn measure(c: &LoopConfig, spec: &[(&str, usize)]) -> LoopMeasure {
        let a = runs_of(spec);
        c.measure(a.iter().map(String::as_str))
    }

    #[test]
    fn run_boundaries_and_thresholds() {
        let c = LoopConfig::default();
        // Different arguments, same base command: one run.
        let m = c.measure(["grep a", "grep b", "X=1 grep c", "cd / && grep d", "ls"]);
        assert_eq!(m.runs, vec![4, 1]);
        assert_eq!(m.r_loop, 0.0);
        // The first run is free up to 14 steps, charged 1 at 15, 2 at 16.
        assert_eq!(measure(&c, &[("ls", 14)]).r_loop, 0.0);
        assert_eq!(measure(&c, &[("ls", 15)]).r_loop, -0.5);
        assert_eq!(measure(&c, &[("ls", 16)]).r_loop, -1.0);
        // Later runs: free up to 7, charged from 8.
        assert_eq!(measure(&c, &[("ls", 1), ("cat x", 7)]).r_loop, 0.0);
        assert_eq!(measure(&c, &[("ls", 1), ("cat x", 8)]).r_loop, -0.5);
        let m = measure(
            &c,
            &[("ls", 16), ("cat x", 9), ("ls", 1), ("python t.py", 10)],
        );
        assert_eq!(m.runs, vec![16, 9, 1, 10]);
        assert_eq!(m.excess, 2 + 2 + 3);
        assert_eq!(m.r_loop, -3.5);
        assert_eq!(m.longest(), 16);
        // Interleaving ends a run; the same command later starts a new one.
        assert_eq!(
            measure(&c, &[("ls", 5), ("pwd", 1), ("ls", 5)]).runs,
            vec![5, 1, 5]
        );
    }

    #[test]
    fn the_first_run_is_chronological_by_default_or_the_longest() {
        let spec = [("ls", 2), ("python t.py", 12)];
        let c = LoopConfig::default();
        let m = measure(&c, &spec);
        assert_eq!(m.first, Some(0));
        assert_eq!(
            m.r_loop,
            -0.5 * 5.0,
            "the 12-step run is not the first: 12−8+1"
        );
        let longest = LoopConfig {
            first_run: FirstRun::Longest,
            ..LoopConfig::default()
        };
        let m = measure(&longest, &spec);
        assert_eq!(m.first, Some(1));
        assert_eq!(m.r_loop, 0.0, "the longest run gets the 15-step allowance");
        assert_eq!(
            measure(&longest, &[("a", 3), ("b", 1), ("c", 3)]).first,
            Some(0),
            "ties: the earliest"
        );
    }

    #[test]
    fn the_penalty_is_capped() {
        let c = LoopConfig::default();
        assert_eq!(
            measure(&c, &[("ls", 34)]).r_loop,
            -10.0,
            "excess 20: −10 exactly"
        );
        let m = measure(&c, &[("ls", 100)]);
        assert_eq!(m.excess, 86);
        assert_eq!(m.r_loop, -10.0);
        assert_eq!(c.measure(Vec::<&str>::new()), LoopMeasure::default());
        let unparsed = c.measure(["", "", ""]);
        assert_eq!(unparsed.runs, vec![3], "unparseable replies repeat too");
    }
}
