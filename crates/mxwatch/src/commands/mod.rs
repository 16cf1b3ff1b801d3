//! One module per subcommand.

mod access;
pub(crate) mod audit;
mod check;
pub(crate) mod demo;
mod diff;
mod explain;
mod headers;
mod preflight;
mod propagation;
mod records;
mod scan;
mod scan_job;
mod serve;
mod watch;
mod worker;

use crate::cli::{Cli, Command};
use crate::exit::Code;

pub async fn run(cli: Cli) -> anyhow::Result<Code> {
    match cli.command {
        Command::Check(args) => check::run(args).await,
        Command::Scan(args) => scan::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Explain(args) => explain::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Watch(args) => watch::run(args).await,
        Command::History(args) => records::history(args).await,
        Command::Changes(args) => records::changes(args).await,
        Command::Approve(args) => records::approve(args).await,
        Command::Propagation(args) => propagation::run(args).await,
        Command::Headers(args) => headers::run(args).await,
        Command::Worker(args) => worker::run(args).await,
        Command::Workers(args) => worker::list(args).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Token(command) => access::token(command).await,
        Command::User(command) => access::user(command).await,
    }
}
