//! Any bytes through the whole `mxwatch headers` analysis: parse, recipient,
//! MX matching (without DNS and with a fixed answer), JSON. It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxwatch_core::headers::auth_results::{self, AuthResultsKind};
use mxwatch_core::headers::recipient::{self, RecipientDomain};
use mxwatch_core::headers::{self, ExchangeAddresses, MxResolution};
use mxwatch_core::{Lookup, MxRecord};

fn observed<T>(value: T) -> Lookup<T> {
    Lookup::Observed {
        value,
        ttl: 300,
        cname_chain: vec![],
        elapsed_ms: 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = headers::parse(data) else {
        return;
    };
    let domain = recipient::choose(&parsed.recipients).unwrap_or(RecipientDomain {
        domain: "example.test".into(),
        source: "fuzz".into(),
    });
    let without_dns = headers::analyse(parsed.clone(), Some(domain.clone()), None);
    let _ = serde_json::to_string(&without_dns);
    let resolution = MxResolution {
        domain: domain.domain.clone(),
        mx: observed(vec![MxRecord {
            preference: 10,
            exchange: "mx.example.test".into(),
        }]),
        exchanges: vec![ExchangeAddresses {
            exchange: "mx.example.test".into(),
            preference: 10,
            implicit: false,
            a: observed(vec!["192.0.2.1".parse().unwrap()]),
            aaaa: observed(vec![]),
        }],
        hosts: vec![],
    };
    let _ = headers::analyse(parsed, Some(domain), Some(resolution));
    let text = String::from_utf8_lossy(data);
    let _ = auth_results::parse(AuthResultsKind::ArcAuthenticationResults, 0, &text);
});
