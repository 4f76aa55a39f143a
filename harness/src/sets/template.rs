//! `--image-template`: image names for private registries and mirrors.
//!
//! The template is rendered once per task at load time and stored in the task
//! (`extra["protege_image"]`), so the image a task ran in is part of its record and cache key.
//! Placeholders:
//!
//! | placeholder | value |
//! | --- | --- |
//! | `{image}` | the set's own image name (`swebench/sweb.eval.x86_64.django_1776_django-11141:latest`, `jyangballin/swesmith.x86_64.pandas-dev_1776_pandas.95280573`) |
//! | `{id}` | the instance id as SWE-bench's image names write it: `__` → `_1776_`, lower-case |
//! | `{instance_id}` | the instance id as published |
//! | `{owner}`, `{repo}` | the two halves of the task's `owner/name` repository |
//! | `{commit}`, `{commit8}` | the task's base commit, whole and its first 8 characters |
//! | `{{`, `}}` | a literal brace |
//!
//! e.g. `registry:5000/{image}` or `registry:5000/sweb.eval.x86_64.{id}:latest`.

use protege_datasets::{Task, TaskSet};
use serde_json::Value;

/// The key of `Task::extra` that holds the rendered name (protege's own, in no set's schema).
pub const IMAGE_KEY: &str = "protege_image";

/// Every placeholder a template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "image",
    "id",
    "instance_id",
    "owner",
    "repo",
    "commit",
    "commit8",
];

/// Checks a template: every `{…}` is a known placeholder and braces are balanced.
pub fn check(template: &str) -> Result<(), String> {
    let probe = Task::from_json(&serde_json::json!({
        "instance_id": "o__r-1", "repo": "o/r", "base_commit": "0123456789", "version": "1",
        "problem_statement": "", "patch": "", "test_patch": "",
        "FAIL_TO_PASS": [], "PASS_TO_PASS": []
    }))
    .expect("probe task");
    render(template, &probe, "x").map(|_| ())
}

/// The image name `template` gives a task whose set names it `image`.
pub fn render(template: &str, task: &Task, image: &str) -> Result<String, String> {
    let (owner, repo) = task.repo.split_once('/').unwrap_or(("", &task.repo));
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => {
                            return Err(format!(
                                "--image-template `{template}`: `{{{name}` is not closed"
                            ));
                        }
                    }
                }
                out.push_str(&match name.as_str() {
                    "image" => image.to_string(),
                    "id" => task.instance_id.replace("__", "_1776_").to_lowercase(),
                    "instance_id" => task.instance_id.clone(),
                    "owner" => owner.to_string(),
                    "repo" => repo.to_string(),
                    "commit" => task.base_commit.clone(),
                    "commit8" => task.base_commit.chars().take(8).collect(),
                    other => {
                        return Err(format!(
                            "--image-template `{template}`: unknown placeholder `{{{other}}}` (known: {})",
                            PLACEHOLDERS
                                .iter()
                                .map(|p| format!("{{{p}}}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                });
            }
            '}' => {
                return Err(format!(
                    "--image-template `{template}`: a lone `}}` (write `}}}}` for a brace)"
                ));
            }
            c => out.push(c),
        }
    }
    if out.is_empty() {
        return Err(format!(
            "--image-template `{template}`: renders an empty name"
        ));
    }
    Ok(out)
}

/// Renders the template for every task of a set, storing the name in the task.
pub fn apply(set: &mut TaskSet, template: &str) -> Result<(), String> {
    check(template)?;
    for task in &mut set.tasks {
        task.extra.remove(IMAGE_KEY);
        let image = super::for_task(task)
            .images(task)
            .into_iter()
            .next()
            .unwrap_or_default();
        let name = render(template, task, &image)?;
        task.extra.insert(IMAGE_KEY.into(), Value::String(name));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Task {
        Task::from_json(&serde_json::json!({
            "instance_id": "Django__django-11141", "repo": "django/django",
            "base_commit": "5d9cf79baf07fc4aed7ad1b06990532a65378155", "version": "3.1",
            "problem_statement": "", "patch": "", "test_patch": "",
            "FAIL_TO_PASS": [], "PASS_TO_PASS": []
        }))
        .unwrap()
    }

    #[test]
    fn placeholders_render() {
        let t = task();
        assert_eq!(
            render("registry:5000/{image}", &t, "swebench/x:latest").unwrap(),
            "registry:5000/swebench/x:latest"
        );
        assert_eq!(
            render("r/{owner}.{repo}.{commit8}:{id}-{instance_id}{{x}}", &t, "").unwrap(),
            "r/django.django.5d9cf79b:django_1776_django-11141-Django__django-11141{x}"
        );
    }

    #[test]
    fn bad_templates_are_named() {
        let t = task();
        let e = render("r/{nope}", &t, "").unwrap_err();
        assert!(e.contains("unknown placeholder `{nope}`"), "{e}");
        assert!(render("r/{id", &t, "").unwrap_err().contains("not closed"));
        assert!(render("r/}", &t, "").unwrap_err().contains("lone `}`"));
        assert!(check("{image}").is_ok());
    }

    #[test]
    fn applied_names_replace_the_sets_own() {
        let mut set = TaskSet {
            name: "x".into(),
            sha256: String::new(),
            tasks: vec![task()],
            rejected: Vec::new(),
        };
        apply(&mut set, "registry:5000/{image}").unwrap();
        assert_eq!(
            super::super::image_names(&set.tasks[0]),
            ["registry:5000/swebench/sweb.eval.x86_64.django_1776_django-11141:latest"]
        );
    }
}
