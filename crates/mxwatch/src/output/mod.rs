//! Where reports go: a human table, JSON, JSON lines or SARIF.

pub mod headers;
mod json;
pub mod preflight;
mod sarif;
pub mod scan;
mod table;

use crate::cli::Format;
use mxwatch_core::{Report, Severity};
use owo_colors::OwoColorize;
use std::io;

/// Receives reports in input order as they complete.
pub trait Sink {
    fn begin(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn report(&mut self, report: &Report) -> io::Result<()>;
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub fn sink(format: Format) -> anyhow::Result<Box<dyn Sink>> {
    Ok(match format {
        Format::Table => Box::new(table::TableSink::default()),
        Format::Json => Box::new(json::JsonArraySink::default()),
        Format::Jsonl => Box::new(json::JsonLinesSink),
        Format::Sarif => Box::new(sarif::SarifSink::default()),
    })
}

/// The severity in upper case and its colour (anstream strips colour when it should).
pub fn severity_label(severity: Severity) -> String {
    let text = format!("{:<8}", severity.as_str().to_ascii_uppercase());
    match severity {
        Severity::Critical => text.bold().white().on_red().to_string(),
        Severity::High => text.bold().red().to_string(),
        Severity::Medium => text.yellow().to_string(),
        Severity::Low => text.cyan().to_string(),
        Severity::Info => text.dimmed().to_string(),
    }
}
