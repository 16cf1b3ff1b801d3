//! The binary end to end, in one test binary (one build and link, one copy of the helpers):
//! each module runs `mxwatch` as a subprocess against the loopback lab.

mod cli;
mod common;
mod headers;
mod mta_sts;
mod preflight;
mod rdap;
mod scan;
mod serve;
mod smtp_budget;
mod watch;
mod watchshare;
mod worker;
