//! mwaskom/seaborn.

use super::{Family, ROW, Row};
use protege_testlog::LogParser;

/// The pins of both rows but pandas.
macro_rules! pins {
    ($pandas:literal) => {
        &[
            "contourpy==1.1.0",
            "cycler==0.11.0",
            "fonttools==4.42.1",
            "importlib-resources==6.0.1",
            "kiwisolver==1.4.5",
            "matplotlib==3.7.2",
            "numpy==1.25.2",
            "packaging==23.1",
            $pandas,
            "pillow==10.0.0",
            "pyparsing==3.0.9",
            "pytest",
            "python-dateutil==2.8.2",
            "pytz==2023.3.post1",
            "scipy==1.11.2",
            "six==1.16.0",
            "tzdata==2023.1",
            "zipp==3.16.2",
        ]
    };
}

const TEST: &str = "pytest --no-header -rA";

pub(super) const FAMILY: Family = Family {
    repo: "mwaskom/seaborn",
    parser: LogParser::Seaborn,
    rows: &[
        Row {
            versions: &["0.11"],
            pip_packages: pins!("pandas==1.3.5"),
            test_cmd: TEST,
            ..ROW
        },
        Row {
            versions: &["0.12", "0.13", "0.14"],
            install: "python -m pip install -e .[dev]",
            pip_packages: pins!("pandas==2.0.0"),
            test_cmd: TEST,
            ..ROW
        },
    ],
    requirements_paths: &[],
    environment_yml_paths: &[],
};
