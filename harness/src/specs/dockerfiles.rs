//! Dockerfiles (and the setup scripts they run) built from specs, in the official harness's three
//! layers:
//!
//! 1. **base** ([`base_dockerfile`]): a Debian/Ubuntu image with build tools, locales and
//!    Miniconda at `/opt/miniconda3`. The image it starts `FROM` is a parameter (here a local
//!    Debian bookworm image; the official harness uses `ubuntu:22.04`).
//! 2. **environment**, one per repository and version ([`env_dockerfile`] running
//!    [`env_setup_script`]): the conda environment `testbed` with the spec's Python, packages and
//!    pip packages.
//! 3. **instance**, one per task ([`instance_dockerfile`] running [`repo_setup_script`]): the
//!    repository cloned with its full history into `/testbed`, reset to the base commit, newer
//!    commits and tags removed, the spec's pre-install and install steps run, and the result
//!    committed so `git diff <base>` shows only what changes afterwards.
//!
//! All functions are pure: they return text. Fetching the requirements / environment file the
//! environment layer needs (GitHub, at the task's `environment_setup_commit`) is the caller's
//! job: [`env_file_urls`] says where, [`clean_requirements`] and [`clean_environment_yml`]
//! prepare what was fetched. docs/parity.md lists which layer needs which network.
//!
//! Differences from the official layering, on purpose: the instance layer does not
//! `chmod -R 777 /testbed` (file modes stay the repository's, so `git diff` shows no mode
//! changes); the clone keeps the full history of its branch (never `--depth 1`, whose base
//! commit has no parent and makes `git show` print the whole tree).

use protege_datasets::Task;
use sha2::{Digest, Sha256};

use super::{Packages, Spec};

/// The conda environment every spec builds.
pub const ENV_NAME: &str = "testbed";
/// Where the repository lives in the instance image.
pub const REPO_DIR: &str = "/testbed";
/// Miniconda installer version the official base image uses.
pub const CONDA_VERSION: &str = "py311_23.11.0-2";
/// Heredoc delimiter for files embedded in setup scripts.
const HEREDOC: &str = "EOF_59812759871";

/// Commits the official harness clones from a branch other than the default one (the default
/// branch's history does not reach them).
const BASE_COMMIT_BRANCH: &[(&str, &str, &str)] = &[
    (
        "sympy/sympy",
        "cffd4e0f86fefd4802349a9f9b19ed70934ea354",
        "1.7",
    ),
    (
        "sympy/sympy",
        "70381f282f2d9d039da860e391fe51649df2779d",
        "sympy-1.5.1",
    ),
    (
        "pytest-dev/pytest",
        "8aba863a634f40560e25055d179220f0eefabe9a",
        "4.6.x",
    ),
];

/// The base layer. `from`: the image to start from (a Debian or Ubuntu with apt);
/// `arch`: `x86_64` or `aarch64` (Miniconda's spelling).
pub fn base_dockerfile(from: &str, arch: &str) -> String {
    format!(
        r#"FROM {from}

ARG DEBIAN_FRONTEND=noninteractive
ENV TZ=Etc/UTC

RUN apt-get update && apt-get install -y \
    wget \
    git \
    build-essential \
    libffi-dev \
    libtiff-dev \
    python3 \
    python3-pip \
    python-is-python3 \
    jq \
    curl \
    locales \
    locales-all \
    tzdata \
    && rm -rf /var/lib/apt/lists/*

# Miniconda, on PATH and in every shell's start-up
RUN wget 'https://repo.anaconda.com/miniconda/Miniconda3-{CONDA_VERSION}-Linux-{arch}.sh' -O miniconda.sh \
    && bash miniconda.sh -b -p /opt/miniconda3 \
    && rm miniconda.sh
ENV PATH=/opt/miniconda3/bin:$PATH
RUN conda init --all
RUN conda config --append channels conda-forge

RUN adduser --disabled-password --gecos 'dog' nonroot
"#
    )
}

/// The environment layer: runs `setup_env.sh` ([`env_setup_script`]) from the build context.
pub fn env_dockerfile(base_image: &str) -> String {
    format!(
        r#"FROM {base_image}

COPY ./setup_env.sh /root/
RUN sed -i -e 's/\r$//' /root/setup_env.sh
RUN chmod +x /root/setup_env.sh
RUN /bin/bash -c "source ~/.bashrc && /root/setup_env.sh"

WORKDIR {REPO_DIR}/

# Every shell starts in the testbed environment
RUN echo "source /opt/miniconda3/etc/profile.d/conda.sh && conda activate {ENV_NAME}" > /root/.bashrc
"#
    )
}

/// The instance layer: runs `setup_repo.sh` ([`repo_setup_script`]) from the build context.
pub fn instance_dockerfile(env_image: &str) -> String {
    format!(
        r#"FROM {env_image}

COPY ./setup_repo.sh /root/
RUN sed -i -e 's/\r$//' /root/setup_repo.sh
RUN /bin/bash /root/setup_repo.sh

WORKDIR {REPO_DIR}/
"#
    )
}

/// The file an environment is built from, as fetched from the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvFile<'a> {
    /// The spec needs none ([`Packages::None`], [`Packages::Conda`]).
    None,
    /// A requirements file after [`clean_requirements`].
    Requirements(&'a str),
    /// A conda environment file after [`clean_environment_yml`].
    EnvironmentYml(&'a str),
}

/// Where the file a spec's environment is built from can be fetched (tried in order), at the
/// task's `environment_setup_commit`; empty when the spec needs none.
pub fn env_file_urls(spec: &Spec, commit: &str) -> Vec<String> {
    let paths = match spec.packages {
        Packages::Requirements => spec.requirements_paths(),
        Packages::EnvironmentYml => spec.environment_yml_paths(),
        Packages::None | Packages::Conda(_) => &[],
    };
    paths
        .iter()
        .map(|p| {
            format!(
                "https://raw.githubusercontent.com/{}/{commit}/{p}",
                spec.repo
            )
        })
        .collect()
}

/// The environment layer's script (`setup_env.sh`): creates the conda environment `testbed`.
pub fn env_setup_script(spec: &Spec, file: EnvFile<'_>) -> String {
    let py = &spec.python;
    let mut s = vec![
        "#!/bin/bash".to_string(),
        "set -euxo pipefail".to_string(),
        "source /opt/miniconda3/bin/activate".to_string(),
    ];
    match (&spec.packages, file) {
        (Packages::Requirements, EnvFile::Requirements(reqs)) => {
            s.push(format!("conda create -n {ENV_NAME} python={py} -y"));
            s.push(format!(
                "cat <<'{HEREDOC}' > $HOME/requirements.txt\n{reqs}\n{HEREDOC}"
            ));
            s.push(format!(
                "conda activate {ENV_NAME} && python -m pip install -r $HOME/requirements.txt"
            ));
            s.push("rm $HOME/requirements.txt".to_string());
        }
        (Packages::EnvironmentYml, EnvFile::EnvironmentYml(yml)) => {
            s.push(format!(
                "cat <<'{HEREDOC}' > environment.yml\n{yml}\n{HEREDOC}"
            ));
            if spec.no_use_env {
                s.push(format!(
                    "conda create -c conda-forge -n {ENV_NAME} python={py} -y"
                ));
                s.push("conda env update -f environment.yml".to_string());
            } else {
                s.push("conda env create --file environment.yml".to_string());
                s.push(format!(
                    "conda activate {ENV_NAME} && conda install python={py} -y"
                ));
            }
            s.push("rm environment.yml".to_string());
        }
        (Packages::Conda(pkgs), _) => {
            s.push(format!("conda create -n {ENV_NAME} python={py} {pkgs} -y"));
        }
        // No file where one was expected: Python alone (the caller should have fetched it).
        _ => s.push(format!("conda create -n {ENV_NAME} python={py} -y")),
    }
    s.push(format!("conda activate {ENV_NAME}"));
    if !spec.pip_packages.is_empty() {
        s.push(format!(
            "python -m pip install {}",
            spec.pip_packages.join(" ")
        ));
    }
    s.join("\n") + "\n"
}

/// The instance layer's script (`setup_repo.sh`): the repository at the task's base commit,
/// with nothing newer reachable, installed in the environment.
pub fn repo_setup_script(task: &Task, spec: &Spec) -> String {
    let base = &task.base_commit;
    let branch = BASE_COMMIT_BRANCH
        .iter()
        .find(|(r, c, _)| *r == task.repo && *c == base)
        .map(|(_, _, b)| format!("--branch {b} "))
        .unwrap_or_default();
    let mut s = vec![
        "#!/bin/bash".to_string(),
        "set -euxo pipefail".to_string(),
        // full history of one branch: the base commit keeps its parents
        format!(
            "git clone -o origin {branch}--single-branch https://github.com/{} {REPO_DIR}",
            task.repo
        ),
        format!("cd {REPO_DIR}"),
        format!("git reset --hard {base}"),
        // nothing newer than the base commit stays reachable
        "git remote remove origin".to_string(),
        format!("TARGET_TIMESTAMP=$(git show -s --format=%ci {base})"),
        r#"git tag -l | while read tag; do TAG_COMMIT=$(git rev-list -n 1 "$tag"); TAG_TIME=$(git show -s --format=%ci "$TAG_COMMIT"); if [[ "$TAG_TIME" > "$TARGET_TIMESTAMP" ]]; then git tag -d "$tag"; fi; done"#.to_string(),
        "git reflog expire --expire=now --all".to_string(),
        "git gc --prune=now --aggressive".to_string(),
        r#"AFTER_TIMESTAMP=$(date -d "$TARGET_TIMESTAMP + 1 second" '+%Y-%m-%d %H:%M:%S')"#.to_string(),
        r#"COMMIT_COUNT=$(git log --oneline --all --since="$AFTER_TIMESTAMP" | wc -l)"#.to_string(),
        r#"[ "$COMMIT_COUNT" -eq 0 ] || exit 1"#.to_string(),
    ];
    s.extend(spec.activate.iter().cloned());
    s.push(r#"echo "Current environment: ${CONDA_DEFAULT_ENV:-none}""#.to_string());
    s.extend(spec.pre_install.iter().cloned());
    if !spec.install.is_empty() {
        s.push(spec.install.clone());
    }
    // what setup changed is committed, so the eval script's diff shows only later changes
    s.extend([
        "git config --global user.email setup@swebench.config".to_string(),
        "git config --global user.name SWE-bench".to_string(),
        "git commit --allow-empty -am SWE-bench".to_string(),
    ]);
    s.join("\n") + "\n"
}

/// A requirements file as the environment layer installs it: `-r other.txt` lines replaced by
/// that file's lines (`include` fetches it: `None` drops it), editable self-installs
/// (`-e .`, `.[test…]`) and comments dropped, and `types-pkg_resources` (withdrawn from PyPI)
/// replaced by `types-setuptools`.
pub fn clean_requirements(text: &str, include: impl Fn(&str) -> Option<String>) -> String {
    let keep = |l: &str| {
        let t = l.trim();
        !(t.starts_with("-e .") || t.starts_with('#') || t.starts_with(".[test"))
    };
    let mut included: Vec<String> = Vec::new();
    let mut own: Vec<&str> = Vec::new();
    for line in text.split('\n') {
        if let Some(name) = line.trim().strip_prefix("-r") {
            if let Some(body) = include(name.trim()) {
                included.extend(body.split('\n').filter(|l| keep(l)).map(str::to_string));
            }
        } else if keep(line) {
            own.push(line);
        }
    }
    included.push(own.join("\n"));
    included
        .join("\n")
        .split('\n')
        .map(replace_withdrawn)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A conda environment file as the environment layer uses it: renamed to `testbed`, and
/// `types-pkg_resources` replaced by `types-setuptools` where it is a list item (the pip section).
pub fn clean_environment_yml(text: &str) -> String {
    text.split('\n')
        .map(|l| {
            if l.starts_with("name:") {
                format!("name: {ENV_NAME}")
            } else {
                let t = l.trim_start();
                match t.strip_prefix('-').map(str::trim_start) {
                    Some(item) if item.starts_with("types-pkg_resources") => {
                        let indent = &l[..l.len() - t.len()];
                        let dash = &t[..t.len() - item.len()];
                        format!("{indent}{dash}{}", replace_withdrawn(item))
                    }
                    _ => l.to_string(),
                }
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `types-pkg_resources[==x]` → `types-setuptools` (a version pin is dropped with the name).
fn replace_withdrawn(line: &str) -> String {
    match line.strip_prefix("types-pkg_resources") {
        Some(rest) if rest.is_empty() || rest.starts_with(['<', '>', '=', '!', '~']) => {
            "types-setuptools".to_string()
        }
        _ => line.to_string(),
    }
}

/// A short key of an environment's content (its setup script), for naming and caching the
/// environment image: equal scripts share an image.
pub fn env_key(setup_script: &str) -> String {
    let h = Sha256::digest(setup_script.as_bytes());
    hex::encode(h)[..22].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::specs::for_repo_version;

    fn task(repo: &str, version: &str, base: &str) -> Task {
        Task {
            instance_id: "x__y-1".into(),
            repo: repo.into(),
            base_commit: base.into(),
            version: version.into(),
            problem_statement: String::new(),
            hints_text: String::new(),
            patch: String::new(),
            test_patch: String::new(),
            fail_to_pass: vec![],
            pass_to_pass: vec![],
            environment_setup_commit: "e".into(),
            created_at: String::new(),
            set: String::new(),
            extra: Default::default(),
        }
    }

    #[test]
    fn base_takes_its_image_as_a_parameter() {
        let d = base_dockerfile("localhost/debian-bookworm-rootfs:latest", "x86_64");
        assert!(d.starts_with("FROM localhost/debian-bookworm-rootfs:latest\n"));
        assert!(d.contains("Miniconda3-py311_23.11.0-2-Linux-x86_64.sh"));
        assert!(d.contains("ENV PATH=/opt/miniconda3/bin:$PATH"));
        assert!(d.contains("locales-all"));
        assert!(d.contains("conda config --append channels conda-forge"));
    }

    #[test]
    fn env_layers() {
        let d = env_dockerfile("protege/base:bookworm");
        assert!(d.starts_with("FROM protege/base:bookworm\n"));
        assert!(d.contains("/root/setup_env.sh"));

        // Django 3.2: a requirements file, Python 3.6
        let s = for_repo_version("django/django", "3.2").unwrap();
        let script = env_setup_script(&s, EnvFile::Requirements("asgiref >= 3.2\nPillow"));
        assert!(script.contains("conda create -n testbed python=3.6 -y\n"));
        assert!(script.contains("cat <<'EOF_59812759871' > $HOME/requirements.txt\nasgiref >= 3.2\nPillow\nEOF_59812759871\n"));
        assert!(script.contains("python -m pip install -r $HOME/requirements.txt"));
        assert!(script.ends_with("conda activate testbed\n"));

        // astropy 5.1: conda Python, pinned pip packages
        let s = for_repo_version("astropy/astropy", "5.1").unwrap();
        let script = env_setup_script(&s, EnvFile::None);
        assert!(script.contains("conda create -n testbed python=3.9 -y\n"));
        assert!(script.contains("python -m pip install attrs==23.1.0 exceptiongroup==1.1.3"));
        assert!(script.contains("pytest==7.4.0"));

        // scikit-learn 0.22: conda packages on the create line
        let s = for_repo_version("scikit-learn/scikit-learn", "0.22").unwrap();
        let script = env_setup_script(&s, EnvFile::None);
        assert!(script.contains(
            "conda create -n testbed python=3.6 numpy scipy cython pytest pandas matplotlib -y"
        ));

        // xarray: environment file applied over a fresh environment
        let s = for_repo_version("pydata/xarray", "2022.06").unwrap();
        assert_eq!(
            env_file_urls(&s, "abc"),
            [
                "https://raw.githubusercontent.com/pydata/xarray/abc/ci/requirements/environment.yml",
                "https://raw.githubusercontent.com/pydata/xarray/abc/environment.yml"
            ]
        );
        let script = env_setup_script(&s, EnvFile::EnvironmentYml("name: testbed\n"));
        assert!(script.contains("conda create -c conda-forge -n testbed python=3.10 -y\nconda env update -f environment.yml\n"));
        // matplotlib: environment file creates the environment
        let s = for_repo_version("matplotlib/matplotlib", "3.7").unwrap();
        let script = env_setup_script(&s, EnvFile::EnvironmentYml("name: testbed\n"));
        assert!(script.contains("conda env create --file environment.yml\nconda activate testbed && conda install python=3.11 -y\n"));
        assert_ne!(env_key(&script), env_key("other"));
        assert_eq!(env_key(&script).len(), 22);
    }

    #[test]
    fn instance_layer_clones_full_history_and_keeps_modes() {
        let d = instance_dockerfile("protege/env:abc");
        assert!(d.starts_with("FROM protege/env:abc\n") && d.contains("setup_repo.sh"));

        let s = for_repo_version("sphinx-doc/sphinx", "7.2").unwrap();
        let t = task(
            "sphinx-doc/sphinx",
            "7.2",
            "0123456789abcdef0123456789abcdef01234567",
        );
        let script = repo_setup_script(&t, &s);
        assert!(script.contains(
            "git clone -o origin --single-branch https://github.com/sphinx-doc/sphinx /testbed\n"
        ));
        assert!(!script.contains("--depth"));
        assert!(!script.contains("chmod"));
        assert!(script.contains("git reset --hard 0123456789abcdef0123456789abcdef01234567\n"));
        assert!(script.contains("git remote remove origin\n"));
        // pre-install (tox -rA, graphviz) then install, then the setup commit
        let pre = script
            .find("sed -i 's/pytest/pytest -rA/' tox.ini")
            .unwrap();
        let graphviz = script.find("apt-get install -y graphviz").unwrap();
        let install = script.find("python -m pip install -e .[test]").unwrap();
        let commit = script
            .find("git commit --allow-empty -am SWE-bench")
            .unwrap();
        assert!(pre < graphviz && graphviz < install && install < commit);

        // a base commit only reachable from another branch
        let s = for_repo_version("sympy/sympy", "1.7").unwrap();
        let t = task(
            "sympy/sympy",
            "1.7",
            "cffd4e0f86fefd4802349a9f9b19ed70934ea354",
        );
        assert!(
            repo_setup_script(&t, &s).contains("git clone -o origin --branch 1.7 --single-branch")
        );
    }

    #[test]
    fn requirements_and_environment_files_are_cleaned() {
        let reqs = "-r base.txt\n-e .\n# comment\nnumpy>=1.0\ntypes-pkg_resources==0.1\n.[test]";
        let out = clean_requirements(reqs, |name| {
            (name == "base.txt").then(|| "six\n-e .".to_string())
        });
        assert_eq!(out, "six\nnumpy>=1.0\ntypes-setuptools");
        let yml = "name: mpl-dev\ndependencies:\n  - pip\n  - pip:\n    - types-pkg_resources\n    - pytest\n";
        assert_eq!(
            clean_environment_yml(yml),
            "name: testbed\ndependencies:\n  - pip\n  - pip:\n    - types-setuptools\n    - pytest\n"
        );
    }
}
