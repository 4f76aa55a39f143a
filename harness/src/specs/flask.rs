//! pallets/flask.

use super::{Family, Pkgs, ROW, Row};
use protege_testlog::LogParser;

const PIP_2_0: &[&str] = &[
    "setuptools==70.0.0",
    "Werkzeug==2.3.7",
    "Jinja2==3.0.1",
    "itsdangerous==2.1.2",
    "click==8.0.1",
    "MarkupSafe==2.1.3",
];
const PIP_LATER: &[&str] = &[
    "setuptools==70.0.0",
    "click==8.1.3",
    "itsdangerous==2.1.2",
    "Jinja2==3.1.2",
    "MarkupSafe==2.1.1",
    "Werkzeug==2.3.7",
];

pub(super) const FAMILY: Family = Family {
    repo: "pallets/flask",
    parser: LogParser::Pytest,
    rows: &[
        Row {
            versions: &["2.0"],
            packages: Pkgs::Requirements,
            pip_packages: PIP_2_0,
            ..ROW
        },
        Row {
            versions: &["2.1"],
            python: "3.10",
            packages: Pkgs::Requirements,
            pip_packages: PIP_LATER,
            ..ROW
        },
        Row {
            versions: &["2.2", "2.3", "3.0", "3.1"],
            python: "3.11",
            packages: Pkgs::Requirements,
            pip_packages: PIP_LATER,
            ..ROW
        },
    ],
    requirements_paths: &["requirements/dev.txt"],
    environment_yml_paths: &[],
};
