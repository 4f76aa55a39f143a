//! pytest-dev/pytest: each version with the dependency pins of its time.

use super::{Family, ROW, Row};
use protege_testlog::LogParser;

const PIP_5_0: &[&str] = &[
    "atomicwrites==1.4.1",
    "attrs==23.1.0",
    "more-itertools==10.1.0",
    "packaging==23.1",
    "pluggy==0.13.1",
    "py==1.11.0",
    "wcwidth==0.2.6",
];
const PIP_6_2: &[&str] = &[
    "attrs==23.1.0",
    "iniconfig==2.0.0",
    "packaging==23.1",
    "pluggy==0.13.1",
    "py==1.11.0",
    "toml==0.10.2",
];
const PIP_7_1: &[&str] = &[
    "attrs==23.1.0",
    "iniconfig==2.0.0",
    "packaging==23.1",
    "pluggy==0.13.1",
    "py==1.11.0",
    "tomli==2.0.1",
];
const PIP_7_4: &[&str] = &[
    "iniconfig==2.0.0",
    "packaging==23.1",
    "pluggy==1.3.0",
    "exceptiongroup==1.1.3",
    "tomli==2.0.1",
];

pub(super) const FAMILY: Family = Family {
    repo: "pytest-dev/pytest",
    parser: LogParser::Pytest,
    rows: &[
        Row {
            versions: &["4.4"],
            pip_packages: &[
                "atomicwrites==1.4.1",
                "attrs==23.1.0",
                "more-itertools==10.1.0",
                "pluggy==0.13.1",
                "py==1.11.0",
                "setuptools==68.0.0",
                "six==1.16.0",
            ],
            ..ROW
        },
        Row {
            versions: &["4.5"],
            pip_packages: &[
                "atomicwrites==1.4.1",
                "attrs==23.1.0",
                "more-itertools==10.1.0",
                "pluggy==0.11.0",
                "py==1.11.0",
                "setuptools==68.0.0",
                "six==1.16.0",
                "wcwidth==0.2.6",
            ],
            ..ROW
        },
        Row {
            versions: &["4.6"],
            pip_packages: &[
                "atomicwrites==1.4.1",
                "attrs==23.1.0",
                "more-itertools==10.1.0",
                "packaging==23.1",
                "pluggy==0.13.1",
                "py==1.11.0",
                "six==1.16.0",
                "wcwidth==0.2.6",
            ],
            ..ROW
        },
        Row {
            versions: &["5.0", "5.1", "5.2"],
            pip_packages: PIP_5_0,
            ..ROW
        },
        Row {
            versions: &["5.3"],
            pip_packages: &[
                "attrs==23.1.0",
                "more-itertools==10.1.0",
                "packaging==23.1",
                "pluggy==0.13.1",
                "py==1.11.0",
                "wcwidth==0.2.6",
            ],
            ..ROW
        },
        Row {
            versions: &["5.4"],
            pip_packages: &[
                "py==1.11.0",
                "packaging==23.1",
                "attrs==23.1.0",
                "more-itertools==10.1.0",
                "pluggy==0.13.1",
            ],
            ..ROW
        },
        Row {
            versions: &["6.0"],
            pip_packages: &[
                "attrs==23.1.0",
                "iniconfig==2.0.0",
                "more-itertools==10.1.0",
                "packaging==23.1",
                "pluggy==0.13.1",
                "py==1.11.0",
                "toml==0.10.2",
            ],
            ..ROW
        },
        Row {
            versions: &["6.2"],
            pip_packages: PIP_6_2,
            ..ROW
        },
        Row {
            // `>=>=` in setup.cfg of these trees breaks the install
            versions: &["6.3"],
            pip_packages: PIP_6_2,
            pre_install: &["sed -i 's/>=>=/>=/' setup.cfg"],
            ..ROW
        },
        Row {
            versions: &["7.0"],
            pip_packages: &[
                "attrs==23.1.0",
                "iniconfig==2.0.0",
                "packaging==23.1",
                "pluggy==0.13.1",
                "py==1.11.0",
            ],
            ..ROW
        },
        Row {
            versions: &["7.1", "7.2"],
            pip_packages: PIP_7_1,
            ..ROW
        },
        Row {
            versions: &["7.4", "8.0", "8.1", "8.2", "8.3", "8.4"],
            pip_packages: PIP_7_4,
            ..ROW
        },
    ],
    requirements_paths: &[],
    environment_yml_paths: &[],
};
