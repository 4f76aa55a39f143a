//! pydata/xarray: a conda environment file, applied over a fresh environment.

use super::{Family, Pkgs, ROW, Row};
use protege_testlog::LogParser;

pub(super) const FAMILY: Family = Family {
    repo: "pydata/xarray",
    parser: LogParser::Pytest,
    rows: &[Row {
        versions: &[
            "0.12", "0.18", "0.19", "0.20", "2022.03", "2022.06", "2022.09", "2023.07", "2024.05",
        ],
        python: "3.10",
        packages: Pkgs::EnvironmentYml,
        pip_packages: &[
            "numpy==1.23.0",
            "packaging==23.1",
            "pandas==1.5.3",
            "pytest==7.4.0",
            "python-dateutil==2.8.2",
            "pytz==2023.3",
            "six==1.16.0",
            "scipy==1.11.1",
            "setuptools==68.0.0",
            "dask==2022.8.1",
        ],
        no_use_env: true,
        ..ROW
    }],
    requirements_paths: &[],
    environment_yml_paths: &["ci/requirements/environment.yml", "environment.yml"],
};
