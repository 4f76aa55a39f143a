//! matplotlib/matplotlib: system libraries and a qhull source tarball fetched at build time.

use super::{Family, Pkgs, ROW, Row};
use protege_testlog::LogParser;

macro_rules! with_qhull {
    ($apt:literal) => {
        &[
            $apt,
            r#"QHULL_URL="http://www.qhull.org/download/qhull-2020-src-8.0.2.tgz""#,
            r#"QHULL_TAR="/tmp/qhull-2020-src-8.0.2.tgz""#,
            r#"QHULL_BUILD_DIR="/testbed/build""#,
            r#"wget -O "$QHULL_TAR" "$QHULL_URL""#,
            r#"mkdir -p "$QHULL_BUILD_DIR""#,
            r#"tar -xvzf "$QHULL_TAR" -C "$QHULL_BUILD_DIR""#,
        ]
    };
}

const PIP_3_5: &[&str] = &[
    "contourpy==1.1.0",
    "cycler==0.11.0",
    "fonttools==4.42.1",
    "ghostscript",
    "kiwisolver==1.4.5",
    "numpy==1.25.2",
    "packaging==23.1",
    "pillow==10.0.0",
    "pikepdf",
    "pyparsing==3.0.9",
    "python-dateutil==2.8.2",
    "six==1.16.0",
    "setuptools==68.1.2",
    "setuptools-scm==7.1.0",
    "typing-extensions==4.7.1",
];

const PRE_3_5: &[&str] = with_qhull!(
    "apt-get -y update && apt-get -y upgrade && DEBIAN_FRONTEND=noninteractive apt-get install -y imagemagick ffmpeg texlive texlive-latex-extra texlive-fonts-recommended texlive-xetex texlive-luatex cm-super dvipng"
);

const MODERN: Row = Row {
    python: "3.11",
    packages: Pkgs::EnvironmentYml,
    pip_packages: PIP_3_5,
    pre_install: PRE_3_5,
    ..ROW
};

pub(super) const FAMILY: Family = Family {
    repo: "matplotlib/matplotlib",
    parser: LogParser::Matplotlib,
    rows: &[
        Row {
            versions: &["3.5", "3.6", "3.7"],
            ..MODERN
        },
        Row {
            versions: &["3.8", "3.9"],
            install: r#"python -m pip install --no-build-isolation -e ".[dev]""#,
            ..MODERN
        },
        Row {
            versions: &["3.1", "3.2", "3.3", "3.4"],
            python: "3.8",
            packages: Pkgs::Requirements,
            pip_packages: &["pytest", "ipython"],
            pre_install: with_qhull!(
                "apt-get -y update && apt-get -y upgrade && DEBIAN_FRONTEND=noninteractive apt-get install -y imagemagick ffmpeg libfreetype6-dev pkg-config texlive texlive-latex-extra texlive-fonts-recommended texlive-xetex texlive-luatex cm-super"
            ),
            ..ROW
        },
        Row {
            versions: &["3.0"],
            python: "3.7",
            packages: Pkgs::Requirements,
            pip_packages: &["pytest"],
            pre_install: with_qhull!(
                "apt-get -y update && apt-get -y upgrade && apt-get install -y imagemagick ffmpeg libfreetype6-dev pkg-config"
            ),
            ..ROW
        },
        // The official table writes `upgrade && && apt-get`, a shell syntax error; fixed here.
        Row {
            versions: &[
                "1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "2.0", "2.1", "2.2",
            ],
            python: "3.5",
            install: "python setup.py build; python setup.py install",
            pip_packages: &["pytest"],
            pre_install: &[
                "apt-get -y update && apt-get -y upgrade && apt-get install -y imagemagick ffmpeg",
            ],
            ..ROW
        },
    ],
    requirements_paths: &[
        "requirements/dev/dev-requirements.txt",
        "requirements/testing/travis_all.txt",
    ],
    environment_yml_paths: &["environment.yml"],
};
