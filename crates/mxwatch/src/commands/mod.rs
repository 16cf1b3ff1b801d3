//! One module per subcommand.

mod audit;
mod check;
mod demo;
mod diff;
mod explain;

use crate::cli::{Cli, Command};
use crate::exit::Code;

pub async fn run(cli: Cli) -> anyhow::Result<Code> {
    match cli.command {
        Command::Check(args) => check::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Explain(args) => explain::run(args),
        Command::Diff(args) => diff::run(args),
    }
}
