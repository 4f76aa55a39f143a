//! `protege`: evaluate software-engineering agents on SWE-bench-style tasks.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use cli::exit::Exit;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Error.into();
        }
    };
    match runtime.block_on(cli::dispatch(args)) {
        Ok(code) => code,
        Err(e) => {
            // One clear message, no backtrace: the chain says what and why.
            eprintln!("error: {e:#}");
            Exit::Error.into()
        }
    }
}
