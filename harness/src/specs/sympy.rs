//! sympy/sympy: sympy's own runner.

use super::{Family, Pkgs, ROW, Row};
use protege_testlog::LogParser;

const TEST: &str =
    "PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' bin/test -C --verbose";

pub(super) const FAMILY: Family = Family {
    repo: "sympy/sympy",
    parser: LogParser::Sympy,
    rows: &[
        Row {
            versions: &["1.13", "1.14"],
            packages: Pkgs::Requirements,
            pip_packages: &["mpmath==1.3.0"],
            test_cmd: TEST,
            ..ROW
        },
        Row {
            versions: &[
                "0.7", "1.0", "1.1", "1.2", "1.4", "1.5", "1.6", "1.7", "1.8", "1.9", "1.10",
                "1.11", "1.12",
            ],
            packages: Pkgs::Conda("mpmath flake8"),
            pip_packages: &["mpmath==1.3.0", "flake8-comprehensions"],
            test_cmd: TEST,
            ..ROW
        },
    ],
    requirements_paths: &["requirements-dev.txt", "requirements-test.txt"],
    environment_yml_paths: &[],
};
