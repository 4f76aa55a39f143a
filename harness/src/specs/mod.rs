//! What the harness needs to know about a repository at a version: how its environment is built,
//! how its tests run, and which parser reads their log.
//!
//! The tables (one module per repository) restate the public facts of the official SWE-bench
//! harness (`swebench` 4.1.0 on PyPI: its per-repository, per-version installation and test
//! specifications) as protege data. The official eval scripts in
//! `../shared/parity/swe-fixer-20241128` are the ground truth the eval scripts built from these
//! tables are checked against (harness/tests/parity.rs, docs/parity.md).

mod astropy;
mod django;
pub mod dockerfiles;
mod flask;
mod matplotlib;
mod pylint;
mod pytest;
mod requests;
mod seaborn;
mod sklearn;
mod sphinx;
mod sympy;
mod xarray;

use protege_datasets::Task;

use protege_testlog::LogParser;

/// Which test files the eval script names after the test command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Directives {
    /// Every file the test patch touches, one it deletes included (the official harness).
    TestPatch,
    /// As [`Directives::TestPatch`], less the files the test patch deletes (SWE-rebench's
    /// fork, which would otherwise name a file pytest cannot find).
    TestPatchKept,
    /// None: the command names its tests itself (SWE-Gym's mypy: `-k "<cases>"`).
    None,
}

/// Everything needed to evaluate one task.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Spec {
    /// `owner/name` (empty for the mini set).
    pub repo: String,
    pub version: String,
    /// The test command, to which the test directives are appended.
    pub test_cmd: String,
    /// Which of the test patch's files follow the test command.
    pub directives: Directives,
    pub parser: LogParser,
    /// Lines that activate the environment, run first and again before the install step
    /// (`source /opt/miniconda3/bin/activate`, `conda activate testbed`; none for the mini set).
    pub activate: Vec<String>,
    /// Commands run in `/testbed` before the tests, other than exports (Django 3.x: generating
    /// the `en_US.UTF-8` locale).
    pub pre_test: Vec<String>,
    /// Variables exported by the eval script (locale, I/O encoding), in the official order.
    pub env: Vec<(String, String)>,
    /// Installs the repository in its environment (image build and eval script; empty: nothing).
    pub install: String,
    /// Commands run in the repository before `install` when the instance image is built (system
    /// packages, pinning edits to `setup.py` / `tox.ini`).
    pub pre_install: Vec<String>,
    /// The Python version the environment is built with.
    pub python: String,
    /// How the environment's packages are chosen.
    pub packages: Packages,
    /// Installed with pip after the environment is created.
    pub pip_packages: Vec<String>,
    /// xarray: create the environment with `conda create` then `conda env update` from the
    /// environment file, rather than `conda env create` from it.
    pub no_use_env: bool,
    /// CPUs the test container gets, when the official harness limits them (pylint).
    pub cpus: Option<u32>,
    /// True when the tests can run under the WASI sandbox (pure Python, no processes).
    pub wasi_ok: bool,
}

/// How an environment's packages are chosen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Packages {
    /// Python alone.
    None,
    /// The repository's requirements file at the task's `environment_setup_commit` (the first of
    /// [`Spec::requirements_paths`] that exists), installed with pip.
    Requirements,
    /// The repository's conda environment file at the `environment_setup_commit` (the first of
    /// [`Spec::environment_yml_paths`] that exists).
    EnvironmentYml,
    /// These conda packages (a space-separated list, quoted where needed).
    Conda(String),
}

/// Variables protege sets in every eval script so reruns agree (documented in docs/parity.md).
pub const DETERMINISM_ENV: &[(&str, &str)] = &[("TZ", "UTC"), ("PYTHONHASHSEED", "0")];

/// File extensions the official harness never passes to the test command (sic: `csv` has no
/// dot, so `foo_csv` is excluded too).
pub const NON_TEST_EXTS: &[&str] = &[
    ".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml",
];

/// The conda activation every official environment uses.
pub const CONDA_ACTIVATE: [&str; 2] = [
    "source /opt/miniconda3/bin/activate",
    "conda activate testbed",
];

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{instance}: no spec for repository `{repo}` version `{version}`")]
    Unknown {
        instance: String,
        repo: String,
        version: String,
    },
    #[error(
        "{instance}: column `log_parser` names `{name}`, which is no parser protege has (the Python parsers of swebench 5.x: parse_log_pytest, parse_log_pytest_options, parse_log_pytest_v2, parse_log_matplotlib, parse_log_seaborn, parse_log_django, parse_log_sympy and their per-repository aliases)"
    )]
    UnknownParser { instance: String, name: String },
    /// The task's own description of its environment (SWE-rebench's `install_config`) is unusable.
    #[error("{instance}: {message}")]
    Invalid { instance: String, message: String },
}

/// The spec of a task: its task set's (`crate::sets`), which for SWE-bench is
/// [`swe_bench_spec`]; a row's `log_parser` column, when present, chooses the parser (as
/// `swebench` 5.x takes it from the row).
pub fn for_task(task: &Task) -> Result<Spec, SpecError> {
    let mut spec = match crate::sets::for_task(task).spec(task) {
        Ok(spec) => spec,
        // A row that brings its own eval script, image and parser needs no table (swebench
        // 5.x grades such rows from their columns alone).
        Err(SpecError::Unknown { .. })
            if task.eval_script.is_some() && task.image.is_some() && task.log_parser.is_some() =>
        {
            Spec::prebuilt(task, "", LogParser::Pytest)
        }
        Err(SpecError::Unknown {
            instance,
            repo,
            version,
        }) if task.eval_script.is_some() || task.image.is_some() => {
            let missing: Vec<&str> = [
                ("eval_script", task.eval_script.is_none()),
                ("image", task.image.is_none()),
                ("log_parser", task.log_parser.is_none()),
            ]
            .into_iter()
            .filter_map(|(c, m)| m.then_some(c))
            .collect();
            return Err(SpecError::Invalid {
                instance,
                message: format!(
                    "no spec for repository `{repo}` version `{version}`, and the row lacks \
                     column(s) {} to be graded from its own columns",
                    missing.join(", ")
                ),
            });
        }
        Err(e) => return Err(e),
    };
    if let Some(name) = &task.log_parser {
        spec.parser =
            LogParser::from_official_name(name).ok_or_else(|| SpecError::UnknownParser {
                instance: task.instance_id.clone(),
                name: name.clone(),
            })?;
    }
    Ok(spec)
}

/// SWE-bench's spec of a task: the mini set's, or the tables' for its repository and version.
pub fn swe_bench_spec(task: &Task) -> Result<Spec, SpecError> {
    if task.repo.starts_with("protege-mini/") {
        return Ok(mini());
    }
    for_repo_version(&task.repo, &task.version).ok_or_else(|| SpecError::Unknown {
        instance: task.instance_id.clone(),
        repo: task.repo.clone(),
        version: task.version.clone(),
    })
}

/// The spec of a repository (`owner/name`) at a version, when the tables know it.
pub fn for_repo_version(repo: &str, version: &str) -> Option<Spec> {
    let family = family(repo)?;
    let row = family.rows.iter().find(|r| r.versions.contains(&version))?;
    Some(row.to_spec(family, version))
}

/// Every repository the tables know, with its versions (in table order).
pub fn known() -> Vec<(&'static str, Vec<&'static str>)> {
    FAMILIES
        .iter()
        .map(|f| {
            let mut vs: Vec<&'static str> = Vec::new();
            for r in f.rows {
                for v in r.versions {
                    if !vs.contains(v) {
                        vs.push(v);
                    }
                }
            }
            (f.repo, vs)
        })
        .collect()
}

/// The built-in mini set: Debian's python3 with pytest, the repository used in place.
fn mini() -> Spec {
    Spec {
        repo: String::new(),
        version: String::new(),
        test_cmd: "python3 -m pytest -rA -p no:cacheprovider".into(),
        directives: Directives::TestPatch,
        parser: LogParser::Pytest,
        activate: Vec::new(),
        pre_test: Vec::new(),
        env: Vec::new(),
        install: String::new(),
        pre_install: Vec::new(),
        python: "3.11".into(),
        packages: Packages::None,
        pip_packages: Vec::new(),
        no_use_env: false,
        cpus: None,
        wasi_ok: true,
    }
}

impl Spec {
    /// What follows the test command: the test patch's files ([`test_directives`]), unless the
    /// command names its tests itself.
    pub fn test_directives(&self, task: &Task) -> Vec<String> {
        match self.directives {
            Directives::TestPatch => test_directives(task, patch_targets(&task.test_patch)),
            Directives::TestPatchKept => {
                let kept = patch_files(&task.test_patch)
                    .into_iter()
                    .filter_map(|f| f.target)
                    .collect();
                test_directives(task, kept)
            }
            Directives::None => Vec::new(),
        }
    }

    /// The spec of a task whose image comes built: `test_cmd` run with `parser`, nothing
    /// activated, exported or installed, not runnable under WASI. Task sets with their own
    /// images start from it and set what they add.
    pub fn prebuilt(task: &Task, test_cmd: impl Into<String>, parser: LogParser) -> Spec {
        Spec {
            repo: task.repo.clone(),
            version: task.version.clone(),
            test_cmd: test_cmd.into(),
            directives: Directives::TestPatch,
            parser,
            activate: Vec::new(),
            pre_test: Vec::new(),
            env: Vec::new(),
            install: String::new(),
            pre_install: Vec::new(),
            python: String::new(),
            packages: Packages::None,
            pip_packages: Vec::new(),
            no_use_env: false,
            cpus: None,
            wasi_ok: false,
        }
    }

    /// Where the repository keeps the requirements file [`Packages::Requirements`] reads, in the
    /// order tried.
    pub fn requirements_paths(&self) -> &'static [&'static str] {
        family(&self.repo).map_or(&[], |f| f.requirements_paths)
    }

    /// Where the repository keeps the conda environment file [`Packages::EnvironmentYml`]
    /// reads, in the order tried.
    pub fn environment_yml_paths(&self) -> &'static [&'static str] {
        family(&self.repo).map_or(&[], |f| f.environment_yml_paths)
    }
}

/// The files a test patch changes that exist before it (the `--- a/X` side of each file; files
/// the patch creates are left out), in order of appearance: what the eval script resets to the
/// base commit before and after the tests, as the official harness does.
pub fn test_files(test_patch: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for file in patch_files(test_patch) {
        if let Some(src) = file.source
            && !out.contains(&src)
        {
            out.push(src);
        }
    }
    out
}

/// The arguments given to the test command from the test patch's `paths`: data files (see
/// [`NON_TEST_EXTS`]) left out; for Django, as test labels (`tests/foo/test_bar.py` →
/// `foo.test_bar`).
fn test_directives(task: &Task, paths: Vec<String>) -> Vec<String> {
    let paths = paths
        .into_iter()
        .filter(|p| !NON_TEST_EXTS.iter().any(|ext| p.ends_with(ext)));
    if task.repo == "django/django" {
        paths.map(|p| django_label(&p)).collect()
    } else {
        paths.collect()
    }
}

/// `tests/foo/test_bar.py` → `foo.test_bar`: the path without `.py` and `tests/`, dotted.
pub fn django_label(path: &str) -> String {
    let p = path.strip_suffix(".py").unwrap_or(path);
    let p = p.strip_prefix("tests/").unwrap_or(p);
    p.replace('/', ".")
}

/// The `b/` path of every `diff --git a/X b/Y` header, in order (repeats kept). As the official
/// harness reads the header, the `b/` path starts after the last ` b/` of the line.
pub fn patch_targets(patch: &str) -> Vec<String> {
    patch
        .lines()
        .filter_map(|l| l.strip_prefix("diff --git a/"))
        .filter_map(|rest| rest.rsplit_once(" b/").map(|(_, b)| b.to_string()))
        .collect()
}

/// One file of a git patch: the path it had before (`None` when the patch creates it) and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchFile {
    pub source: Option<String>,
    pub target: Option<String>,
}

/// The files of a git patch, read from `diff --git` headers, `new file mode` / `deleted file
/// mode` lines and the `---` / `+++` lines.
pub fn patch_files(patch: &str) -> Vec<PatchFile> {
    let mut out: Vec<PatchFile> = Vec::new();
    let mut in_hunk = false;
    for line in patch.lines() {
        if let Some(rest) = line.strip_prefix("diff --git ") {
            in_hunk = false;
            let (a, b) = match rest.strip_prefix("a/").and_then(|r| r.rsplit_once(" b/")) {
                Some((a, b)) => (Some(a.to_string()), Some(b.to_string())),
                None => (None, None),
            };
            out.push(PatchFile {
                source: a,
                target: b,
            });
            continue;
        }
        let Some(cur) = out.last_mut() else {
            continue;
        };
        if line.starts_with("@@ ") {
            in_hunk = true;
            continue;
        }
        if in_hunk {
            continue;
        }
        if line.starts_with("new file mode") {
            cur.source = None;
        } else if line.starts_with("deleted file mode") {
            cur.target = None;
        } else if let Some(p) = line.strip_prefix("--- ") {
            cur.source = diff_path(p, "a/");
        } else if let Some(p) = line.strip_prefix("+++ ") {
            cur.target = diff_path(p, "b/");
        }
    }
    out
}

fn diff_path(p: &str, prefix: &str) -> Option<String> {
    let p = p.split('\t').next().unwrap_or(p).trim_end();
    if p == "/dev/null" {
        return None;
    }
    Some(p.strip_prefix(prefix).unwrap_or(p).to_string())
}

// ---------------------------------------------------------------------------------------------
// The tables' shape.

/// A repository and its rows.
pub(crate) struct Family {
    pub repo: &'static str,
    pub parser: LogParser,
    pub rows: &'static [Row],
    pub requirements_paths: &'static [&'static str],
    pub environment_yml_paths: &'static [&'static str],
}

/// How a row chooses packages (the `'static` form of [`Packages`]).
#[derive(Clone, Copy)]
pub(crate) enum Pkgs {
    None,
    Requirements,
    EnvironmentYml,
    Conda(&'static str),
}

/// The spec shared by a set of versions. The first row listing a version is its spec.
#[derive(Clone, Copy)]
pub(crate) struct Row {
    pub versions: &'static [&'static str],
    pub python: &'static str,
    pub packages: Pkgs,
    pub install: &'static str,
    pub pip_packages: &'static [&'static str],
    pub pre_install: &'static [&'static str],
    /// Run by the eval script after `cd /testbed`: `export K=V` lines become [`Spec::env`],
    /// the others [`Spec::pre_test`].
    pub eval_commands: &'static [&'static str],
    pub test_cmd: &'static str,
    pub no_use_env: bool,
    pub cpus: Option<u32>,
}

/// Defaults for rows: `Row { versions: &[..], python: "3.9", ..ROW }`.
pub(crate) const ROW: Row = Row {
    versions: &[],
    python: "3.9",
    packages: Pkgs::None,
    install: "python -m pip install -e .",
    pip_packages: &[],
    pre_install: &[],
    eval_commands: &[],
    test_cmd: TEST_PYTEST,
    no_use_env: false,
    cpus: None,
};

pub(crate) const TEST_PYTEST: &str = "pytest -rA";

impl Row {
    fn to_spec(self, family: &Family, version: &str) -> Spec {
        let mut env = Vec::new();
        let mut pre_test = Vec::new();
        for c in self.eval_commands {
            match c.strip_prefix("export ").and_then(|kv| kv.split_once('=')) {
                Some((k, v)) => env.push((k.to_string(), v.to_string())),
                None => pre_test.push(c.to_string()),
            }
        }
        let strings = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Spec {
            repo: family.repo.to_string(),
            version: version.to_string(),
            test_cmd: self.test_cmd.to_string(),
            directives: Directives::TestPatch,
            parser: family.parser,
            activate: strings(&CONDA_ACTIVATE),
            pre_test,
            env,
            install: self.install.to_string(),
            pre_install: strings(self.pre_install),
            python: self.python.to_string(),
            packages: match self.packages {
                Pkgs::None => Packages::None,
                Pkgs::Requirements => Packages::Requirements,
                Pkgs::EnvironmentYml => Packages::EnvironmentYml,
                Pkgs::Conda(p) => Packages::Conda(p.to_string()),
            },
            pip_packages: strings(self.pip_packages),
            no_use_env: self.no_use_env,
            cpus: self.cpus,
            wasi_ok: false,
        }
    }
}

const FAMILIES: &[Family] = &[
    astropy::FAMILY,
    django::FAMILY,
    matplotlib::FAMILY,
    seaborn::FAMILY,
    flask::FAMILY,
    requests::FAMILY,
    xarray::FAMILY,
    pylint::FAMILY,
    pytest::FAMILY,
    sklearn::FAMILY,
    sphinx::FAMILY,
    sympy::FAMILY,
];

fn family(repo: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.repo == repo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(repo: &str, version: &str, test_patch: &str) -> Task {
        Task {
            instance_id: "x__y-1".into(),
            repo: repo.into(),
            base_commit: "abc".into(),
            version: version.into(),
            problem_statement: String::new(),
            hints_text: String::new(),
            patch: String::new(),
            test_patch: test_patch.into(),
            fail_to_pass: vec![],
            pass_to_pass: vec![],
            environment_setup_commit: String::new(),
            created_at: String::new(),
            ..Default::default()
        }
    }

    const PATCH: &str = "diff --git a/tests/migrations/test_loader.py b/tests/migrations/test_loader.py\n\
--- a/tests/migrations/test_loader.py\n\
+++ b/tests/migrations/test_loader.py\n\
@@ -1,1 +1,1 @@\n\
-a\n\
+b\n\
diff --git a/tests/migrations/test_migrations_namespace_package/0001_initial.py b/tests/migrations/test_migrations_namespace_package/0001_initial.py\n\
new file mode 100644\n\
--- /dev/null\n\
+++ b/tests/migrations/test_migrations_namespace_package/0001_initial.py\n\
@@ -0,0 +1,1 @@\n\
+x\n\
diff --git a/tests/validators/valid_urls.txt b/tests/validators/valid_urls.txt\n\
--- a/tests/validators/valid_urls.txt\n\
+++ b/tests/validators/valid_urls.txt\n\
@@ -1,1 +1,1 @@\n\
--- a/not/a/header\n\
+x\n";

    #[test]
    fn a_row_with_its_own_columns_needs_no_table() {
        let mut t = task("someone/unlisted", "0.1", "");
        assert!(matches!(for_task(&t), Err(SpecError::Unknown { .. })));
        t.eval_script = Some("#!/bin/bash\npytest -rA".into());
        let e = for_task(&t).unwrap_err().to_string();
        assert!(e.contains("image, log_parser"), "{e}");
        t.image = Some("registry.example/unlisted:1".into());
        t.log_parser = Some("parse_log_django".into());
        let spec = for_task(&t).unwrap();
        assert_eq!(spec.parser, LogParser::Django);
        assert_eq!(spec.repo, "someone/unlisted");
        assert!(!spec.wasi_ok);
    }

    #[test]
    fn a_rows_log_parser_column_chooses_the_parser() {
        let mut t = task("pallets/flask", "2.3", "");
        assert_eq!(for_task(&t).unwrap().parser, LogParser::Pytest);
        t.log_parser = Some("parse_log_sphinx".into());
        assert_eq!(for_task(&t).unwrap().parser, LogParser::PytestV2);
        t.log_parser = Some("parse_log_jest".into());
        let e = for_task(&t).unwrap_err().to_string();
        assert!(
            e.contains("`log_parser`") && e.contains("parse_log_jest"),
            "{e}"
        );
    }

    #[test]
    fn test_files_are_the_patched_files_that_exist_before() {
        assert_eq!(
            test_files(PATCH),
            [
                "tests/migrations/test_loader.py",
                "tests/validators/valid_urls.txt"
            ]
        );
    }

    #[test]
    fn django_directives_are_dotted_labels() {
        // django__django-11141
        let t = task("django/django", "3.1", PATCH);
        assert_eq!(
            test_directives(&t, patch_targets(&t.test_patch)),
            [
                "migrations.test_loader",
                "migrations.test_migrations_namespace_package.0001_initial"
            ]
        );
        let t = task("sympy/sympy", "1.1", PATCH);
        assert_eq!(
            test_directives(&t, patch_targets(&t.test_patch)),
            [
                "tests/migrations/test_loader.py",
                "tests/migrations/test_migrations_namespace_package/0001_initial.py"
            ]
        );
    }

    #[test]
    fn every_verified_repository_has_a_spec() {
        for (repo, version, cmd, parser) in [
            (
                "astropy/astropy",
                "1.3",
                "pytest -rA -vv -o console_output_style=classic --tb=no",
                LogParser::PytestV2,
            ),
            ("astropy/astropy", "5.1", "pytest -rA", LogParser::PytestV2),
            (
                "django/django",
                "3.0",
                "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1",
                LogParser::Django,
            ),
            (
                "django/django",
                "1.9",
                "./tests/runtests.py --verbosity 2",
                LogParser::Django,
            ),
            (
                "matplotlib/matplotlib",
                "3.7",
                "pytest -rA",
                LogParser::Matplotlib,
            ),
            (
                "mwaskom/seaborn",
                "0.12",
                "pytest --no-header -rA",
                LogParser::Seaborn,
            ),
            ("pallets/flask", "2.3", "pytest -rA", LogParser::Pytest),
            (
                "psf/requests",
                "2.27",
                "pytest -rA",
                LogParser::PytestOptions,
            ),
            ("pydata/xarray", "2022.09", "pytest -rA", LogParser::Pytest),
            (
                "pylint-dev/pylint",
                "2.15",
                "pytest -rA",
                LogParser::PytestOptions,
            ),
            ("pytest-dev/pytest", "7.2", "pytest -rA", LogParser::Pytest),
            (
                "scikit-learn/scikit-learn",
                "1.3",
                "pytest -rA",
                LogParser::PytestV2,
            ),
            (
                "sphinx-doc/sphinx",
                "7.2",
                "tox --current-env -epy39 -v --",
                LogParser::PytestV2,
            ),
            (
                "sympy/sympy",
                "1.12",
                "PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' bin/test -C --verbose",
                LogParser::Sympy,
            ),
        ] {
            let s = for_repo_version(repo, version).unwrap_or_else(|| panic!("{repo} {version}"));
            assert_eq!(s.test_cmd, cmd, "{repo} {version}");
            assert_eq!(s.parser, parser, "{repo} {version}");
            assert_eq!(s.activate, CONDA_ACTIVATE);
        }
        assert!(for_repo_version("django/django", "9.9").is_none());
        assert!(for_repo_version("nobody/nothing", "1.0").is_none());
    }

    #[test]
    fn tables_cover_every_official_version_of_the_twelve_repositories() {
        let k = known();
        assert_eq!(k.len(), 12);
        let counts: Vec<(&str, usize)> = k.iter().map(|(r, v)| (*r, v.len())).collect();
        assert_eq!(
            counts,
            [
                ("astropy/astropy", 17),
                ("django/django", 20),
                ("matplotlib/matplotlib", 19),
                ("mwaskom/seaborn", 4),
                ("pallets/flask", 6),
                ("psf/requests", 28),
                ("pydata/xarray", 9),
                ("pylint-dev/pylint", 14),
                ("pytest-dev/pytest", 20),
                ("scikit-learn/scikit-learn", 7),
                ("sphinx-doc/sphinx", 34),
                ("sympy/sympy", 15),
            ]
        );
        for (repo, versions) in k {
            for v in versions {
                let s = for_repo_version(repo, v).unwrap();
                assert!(!s.python.is_empty() && !s.test_cmd.is_empty(), "{repo} {v}");
            }
        }
    }

    #[test]
    fn django_locale_is_split_into_commands_and_exports() {
        let s = for_repo_version("django/django", "3.2").unwrap();
        assert_eq!(
            s.pre_test,
            ["sed -i '/en_US.UTF-8/s/^# //g' /etc/locale.gen && locale-gen"]
        );
        assert_eq!(
            s.env,
            [
                ("LANG", "en_US.UTF-8"),
                ("LANGUAGE", "en_US:en"),
                ("LC_ALL", "en_US.UTF-8")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(s.python, "3.6");
        assert_eq!(s.packages, Packages::Requirements);
        assert_eq!(s.requirements_paths(), ["tests/requirements/py3.txt"]);
        let s = for_repo_version("django/django", "2.2").unwrap();
        assert_eq!(s.install, "python setup.py install");
        assert_eq!(s.env.len(), 4);
        assert!(s.pre_test.is_empty());
    }

    #[test]
    fn mini_spec_is_unchanged() {
        let mut t = task("protege-mini/calcexpr", "1", "");
        t.instance_id = "protege-mini__calcexpr-1".into();
        let s = for_task(&t).unwrap();
        assert_eq!(s.test_cmd, "python3 -m pytest -rA -p no:cacheprovider");
        assert!(s.wasi_ok && s.activate.is_empty() && s.install.is_empty());
    }
}
