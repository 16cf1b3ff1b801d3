//! The collectors against the loopback lab, in one test binary (one build and link, one copy of
//! the helpers).

mod common;
mod dnssec_fixes;
mod lab;
mod mta_sts;
mod rdap;
mod resolvers;
mod smtp;
mod trust;
mod validating_resolver;
