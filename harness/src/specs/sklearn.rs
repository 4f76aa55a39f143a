//! scikit-learn/scikit-learn: compiled in place, without build isolation.

use super::{Family, Pkgs, ROW, Row};
use protege_testlog::LogParser;

const INSTALL: &str = "python -m pip install -v --no-use-pep517 --no-build-isolation -e .";

pub(super) const FAMILY: Family = Family {
    repo: "scikit-learn/scikit-learn",
    parser: LogParser::PytestV2,
    rows: &[
        Row {
            versions: &["0.20", "0.21", "0.22"],
            python: "3.6",
            packages: Pkgs::Conda("numpy scipy cython pytest pandas matplotlib"),
            install: INSTALL,
            pip_packages: &["cython", "numpy==1.19.2", "setuptools", "scipy==1.5.2"],
            ..ROW
        },
        Row {
            versions: &["1.3", "1.4", "1.5", "1.6"],
            packages: Pkgs::Conda(
                "'numpy==1.19.2' 'scipy==1.5.2' 'cython==3.0.10' pytest 'pandas<2.0.0' 'matplotlib<3.9.0' setuptools pytest joblib threadpoolctl",
            ),
            install: INSTALL,
            pip_packages: &["cython", "setuptools", "numpy", "scipy"],
            ..ROW
        },
    ],
    requirements_paths: &[],
    environment_yml_paths: &[],
};
