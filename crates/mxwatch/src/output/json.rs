//! `--format json` (one array, streamed element by element) and `--format jsonl`.

use super::Sink;
use mxwatch_core::Report;
use std::io::{self, Write};

#[derive(Default)]
pub struct JsonArraySink {
    written: usize,
}

impl Sink for JsonArraySink {
    fn begin(&mut self) -> io::Result<()> {
        io::stdout().lock().write_all(b"[")
    }

    fn report(&mut self, report: &Report) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(if self.written == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer_pretty(&mut out, report)?;
        self.written += 1;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(b"\n]\n")?;
        out.flush()
    }
}

pub struct JsonLinesSink;

impl Sink for JsonLinesSink {
    fn report(&mut self, report: &Report) -> io::Result<()> {
        let mut out = io::stdout().lock();
        serde_json::to_writer(&mut out, report)?;
        out.write_all(b"\n")?;
        out.flush()
    }
}
