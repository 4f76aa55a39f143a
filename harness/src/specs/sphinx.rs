//! sphinx-doc/sphinx: tests run through tox in the current environment; old trees get their
//! dependencies capped so they still install.

use super::{Family, ROW, Row};
use protege_testlog::LogParser;

/// Every version: make tox's pytest print the `-rA` summary.
macro_rules! pre {
    ($($extra:literal),* $(,)?) => {
        &["sed -i 's/pytest/pytest -rA/' tox.ini", $($extra),*]
    };
}

/// 3.0 – 4.4: caps shared by all.
macro_rules! capped {
    ($($extra:literal),* $(,)?) => {
        pre!(
            "sed -i 's/Jinja2>=2.3/Jinja2<3.0/' setup.py",
            "sed -i 's/sphinxcontrib-applehelp/sphinxcontrib-applehelp<=1.0.7/' setup.py",
            "sed -i 's/sphinxcontrib-devhelp/sphinxcontrib-devhelp<=1.0.5/' setup.py",
            "sed -i 's/sphinxcontrib-qthelp/sphinxcontrib-qthelp<=1.0.6/' setup.py",
            "sed -i 's/alabaster>=0.7,<0.8/alabaster>=0.7,<0.7.12/' setup.py",
            r#"sed -i "s/'packaging',/'packaging', 'markupsafe<=2.0.1',/" setup.py"#,
            $($extra),*
        )
    };
}

const BASE: Row = Row {
    install: "python -m pip install -e .[test]",
    pip_packages: &["tox==4.16.0", "tox-current-env==0.0.11", "Jinja2==3.0.3"],
    test_cmd: "tox --current-env -epy39 -v --",
    ..ROW
};

pub(super) const FAMILY: Family = Family {
    repo: "sphinx-doc/sphinx",
    parser: LogParser::PytestV2,
    rows: &[
        Row {
            versions: &[
                "1.5", "1.6", "1.7", "1.8", "2.0", "2.1", "2.2", "2.3", "2.4", "4.5", "5.0", "5.1",
                "5.2", "5.3", "6.0", "6.2", "7.0", "7.1",
            ],
            pre_install: pre!(),
            ..BASE
        },
        Row {
            versions: &["3.0", "3.1", "3.2", "3.3", "3.4", "3.5", "4.0"],
            pre_install: capped!(
                "sed -i 's/sphinxcontrib-htmlhelp/sphinxcontrib-htmlhelp<=2.0.4/' setup.py",
                "sed -i 's/sphinxcontrib-serializinghtml/sphinxcontrib-serializinghtml<=1.1.9/' setup.py",
            ),
            ..BASE
        },
        Row {
            versions: &["4.1"],
            pre_install: capped!(
                "grep -q 'sphinxcontrib-htmlhelp>=2.0.0' setup.py && sed -i 's/sphinxcontrib-htmlhelp>=2.0.0/sphinxcontrib-htmlhelp>=2.0.0,<=2.0.4/' setup.py || sed -i 's/sphinxcontrib-htmlhelp/sphinxcontrib-htmlhelp<=2.0.4/' setup.py",
                "grep -q 'sphinxcontrib-serializinghtml>=1.1.5' setup.py && sed -i 's/sphinxcontrib-serializinghtml>=1.1.5/sphinxcontrib-serializinghtml>=1.1.5,<=1.1.9/' setup.py || sed -i 's/sphinxcontrib-serializinghtml/sphinxcontrib-serializinghtml<=1.1.9/' setup.py",
            ),
            ..BASE
        },
        Row {
            versions: &["4.2", "4.3", "4.4"],
            pre_install: capped!(
                "sed -i 's/sphinxcontrib-htmlhelp>=2.0.0/sphinxcontrib-htmlhelp>=2.0.0,<=2.0.4/' setup.py",
                "sed -i 's/sphinxcontrib-serializinghtml>=1.1.5/sphinxcontrib-serializinghtml>=1.1.5,<=1.1.9/' setup.py",
            ),
            ..BASE
        },
        Row {
            versions: &["7.2", "7.3", "7.4"],
            pre_install: pre!("apt-get update && apt-get install -y graphviz"),
            ..BASE
        },
        Row {
            versions: &["8.0", "8.1"],
            python: "3.10",
            pre_install: pre!("apt-get update && apt-get install -y graphviz"),
            ..BASE
        },
    ],
    requirements_paths: &[],
    environment_yml_paths: &[],
};
