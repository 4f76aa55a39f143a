//! The command language of the WASI sandbox: no shell, one program per command.
//!
//! ```text
//! [cd DIR &&] [NAME=VALUE …] PROGRAM ARG…
//! PROGRAM: python | python3 | python3.12 | pytest | cat | ls | grep | find
//! ```
//!
//! Arguments are split with shell quoting rules (`shlex`). Pipes, redirections, `;`, `&`,
//! backgrounding, substitutions and every other program are refused with a message that says
//! what can run.

/// What can run, for error messages.
pub const WHAT_CAN_RUN: &str = "The WASI sandbox has no shell, processes, pipes or redirections. It runs one command at a time:\n\
  python ARGS… / python3 ARGS…   CPython 3.12 (no subprocess, threads, sockets or ssl)\n\
  pytest ARGS…                    python -m pytest (pytest 8.3)\n\
  cat [-n] FILE…\n\
  ls [-a] [-l] [PATH…]\n\
  grep [-rnilcFEwv] [--include=GLOB] PATTERN [PATH…]\n\
  find [PATH…] [-name GLOB] [-type f|d] [-maxdepth N]\n\
optionally prefixed by `cd DIR &&` and NAME=VALUE environment assignments. \
Files are under /testbed (the repository) and /tmp.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    Python,
    Pytest,
    Cat,
    Ls,
    Grep,
    Find,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// From a leading `cd DIR &&`.
    pub cd: Option<String>,
    pub env: Vec<(String, String)>,
    pub program: Program,
    pub args: Vec<String>,
}

/// Splits `s` at unquoted occurrences of `&&` and reports the first other shell operator found
/// outside quotes.
fn scan(s: &str) -> Result<Vec<&str>, String> {
    let b = s.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let (mut single, mut double) = (false, false);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if single {
            if c == b'\'' {
                single = false;
            }
        } else if c == b'\\' {
            i += 1;
        } else if double {
            if c == b'"' {
                double = false;
            } else if c == b'`' || (c == b'$' && b.get(i + 1) == Some(&b'(')) {
                return Err("command substitution".into());
            }
        } else {
            match c {
                b'\'' => single = true,
                b'"' => double = true,
                b'&' if b.get(i + 1) == Some(&b'&') => {
                    parts.push(&s[start..i]);
                    i += 2;
                    start = i;
                    continue;
                }
                b'|' => return Err("a pipe `|`".into()),
                b';' => return Err("`;`".into()),
                b'&' => return Err("`&`".into()),
                b'<' | b'>' => return Err("a redirection".into()),
                b'`' => return Err("command substitution".into()),
                b'$' if b.get(i + 1) == Some(&b'(') => return Err("command substitution".into()),
                b'\n' => return Err("several lines".into()),
                _ => {}
            }
        }
        i += 1;
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn is_assignment(tok: &str) -> Option<(String, String)> {
    let (name, value) = tok.split_once('=')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    if !(first.is_ascii_alphabetic() || first == '_')
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return None;
    }
    Some((name.to_string(), value.to_string()))
}

fn split(s: &str) -> Result<Vec<String>, String> {
    shlex::split(s).ok_or_else(|| format!("cannot split `{s}`: unbalanced quotes"))
}

/// Parses one command line; the error is the message to show.
pub fn parse(line: &str) -> Result<Parsed, String> {
    let refuse = |what: &str| {
        format!(
            "cannot run `{}`: {what} needs a shell.\n{WHAT_CAN_RUN}",
            line.trim()
        )
    };
    let parts = scan(line).map_err(|what| refuse(&what))?;
    let (cd, body) = match parts.as_slice() {
        [one] => (None, *one),
        [first, second] => {
            let toks = split(first)?;
            match toks.as_slice() {
                [cd, dir] if cd == "cd" => (Some(dir.clone()), *second),
                _ => return Err(refuse("`&&`")),
            }
        }
        _ => return Err(refuse("`&&`")),
    };
    let mut toks = split(body)?.into_iter().peekable();
    let mut env = Vec::new();
    while let Some(kv) = toks.peek().and_then(|t| is_assignment(t)) {
        env.push(kv);
        toks.next();
    }
    let Some(prog) = toks.next() else {
        return Err(format!("empty command.\n{WHAT_CAN_RUN}"));
    };
    let program = match prog.as_str() {
        "python" | "python3" | "python3.12" => Program::Python,
        "pytest" | "py.test" => Program::Pytest,
        "cat" => Program::Cat,
        "ls" => Program::Ls,
        "grep" => Program::Grep,
        "find" => Program::Find,
        other => {
            let why = match other {
                "bash" | "sh" | "zsh" | "dash" => "there is no shell",
                "pip" | "pip3" | "conda" | "apt" | "apt-get" => "nothing can be installed",
                "git" => "there is no git (the harness diffs the working copy itself)",
                _ => "it is not available",
            };
            return Err(format!("cannot run `{other}`: {why}.\n{WHAT_CAN_RUN}"));
        }
    };
    Ok(Parsed {
        cd,
        env,
        program,
        args: toks.collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_programs_env_and_cd() {
        let p = parse("cd /testbed && FOO=1 python -c 'print(1; 2)'").unwrap();
        assert_eq!(p.cd.as_deref(), Some("/testbed"));
        assert_eq!(p.env, [("FOO".to_string(), "1".to_string())]);
        assert_eq!(p.program, Program::Python);
        assert_eq!(p.args, ["-c", "print(1; 2)"]);
        let p = parse(r#"grep -rn "a|b" ."#).unwrap();
        assert_eq!(p.args, ["-rn", "a|b", "."]);
    }

    #[test]
    fn refuses_shell_features() {
        for bad in [
            "bash -c 'ls'",
            "ls | head",
            "ls; rm x",
            "python x.py > out",
            "sleep 1 &",
            "echo $(id)",
            "git status",
            "pip install x",
            "ls && ls",
            "python -c \"`id`\"",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("python ARGS"), "{bad}: {e}");
        }
        assert!(parse("bash -c ls").unwrap_err().contains("no shell"));
    }
}
