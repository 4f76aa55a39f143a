//! pylint-dev/pylint: later versions run with two CPUs.

use super::{Family, Pkgs, ROW, Row};
use protege_testlog::LogParser;

const BASE: Row = Row {
    packages: Pkgs::Requirements,
    ..ROW
};
const ASTROID_3: &[&str] = &["astroid==3.0.0a6", "setuptools"];

pub(super) const FAMILY: Family = Family {
    repo: "pylint-dev/pylint",
    parser: LogParser::PytestOptions,
    rows: &[
        Row {
            versions: &["2.8"],
            pip_packages: &["pyenchant==3.2"],
            pre_install: &["apt-get update && apt-get install -y libenchant-2-dev hunspell-en-us"],
            ..BASE
        },
        Row {
            versions: &["2.9", "2.10", "2.11", "2.13", "2.16"],
            ..BASE
        },
        Row {
            versions: &["2.14", "2.15", "2.17"],
            cpus: Some(2),
            ..BASE
        },
        Row {
            versions: &["3.0", "3.1", "3.2", "3.3", "4.0"],
            pip_packages: ASTROID_3,
            cpus: Some(2),
            ..BASE
        },
    ],
    requirements_paths: &["requirements_test.txt"],
    environment_yml_paths: &[],
};
