//! mxwatch: audit and watch the MX records of your domains.
//!
//! A thin binary: flags in, library crates called, output printed.

mod cli;
mod commands;
mod exit;
mod output;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc instead of the C library's malloc: an audit allocates and frees per DNS record and
/// per finding, and the allocator was about a fifth of a bulk scan's CPU (docs/performance.md).
/// Built without transparent huge pages (`no_thp`): with them a 10,000-domain scan's peak RSS was
/// 64 MiB instead of 49, for the same CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // One crypto provider for the whole process (our own code passes it explicitly;
    // this covers any library that asks rustls for the process default).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    init_tracing(cli.verbose);
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::Code::Usage.into();
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code.into(),
        Err(err) => {
            if is_broken_pipe(&err) {
                return exit::Code::Clean.into();
            }
            anstream::eprintln!("error: {err:#}");
            exit::code_for_error(&err).into()
        }
    }
}

/// On one CPU (a pinned client, a one-core container) every task runs on the main thread: a
/// worker thread beside it could only add hand-offs between two threads sharing that CPU (every
/// DNS reply woke the other thread). On more CPUs, one worker per CPU.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let one_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = if one_cpu {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build()
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MXWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A closed pipe (`mxwatch check … | head`) is a normal way for output to end.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
