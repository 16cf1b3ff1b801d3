//! The record parsers and the SPF evaluator never panic, whatever the text; and whatever our strict
//! SPF/DMARC parsers accept, mail-auth (the receivers' parser) accepts too.

use mail_auth::common::parse::TxtRecordParser;
use mxwatch_core::observation::lookup::Lookup;
use mxwatch_core::records::spf::eval as spf_eval;
use mxwatch_core::records::{bimi, dkim, dmarc, spf, taglist, tlsrpt};
use proptest::prelude::*;

fn seen(text: String) -> Lookup<Vec<String>> {
    Lookup::Observed {
        value: vec![text],
        ttl: 1,
        cname_chain: vec![],
        elapsed_ms: 0,
    }
}

/// SPF terms from the grammar, with deliberately broken ones and random text among them.
fn spf_term() -> impl Strategy<Value = String> {
    prop_oneof![spf_known_term(), "[a-z%{}:/._=+~?-]{1,20}"]
}

/// Mechanisms and modifiers receivers know, some broken. (Random unknown modifiers are left out of
/// the differential test: mail-auth refuses some the RFC grammar allows, like `x=/`.)
fn spf_known_term() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("mx".to_string()),
        Just("-all".to_string()),
        Just("~all".to_string()),
        Just("a".to_string()),
        Just("ptr".to_string()),
        Just("a/24".to_string()),
        Just("mx:mail.example.test//64".to_string()),
        Just("include:_spf.example.test".to_string()),
        Just("exists:%{ir}.%{l1r+-}._spf.%{d}".to_string()),
        Just("redirect=_spf.example.test".to_string()),
        Just("exp=explain.example.test".to_string()),
        Just("ipv4:192.0.2.1".to_string()),
        Just("ip4:192.0.2.0/33".to_string()),
        Just("include:".to_string()),
        (0u8..=255, 0u8..=40).prop_map(|(o, p)| format!("ip4:192.0.2.{o}/{p}")),
        (0u16..=0xffff, 0u8..=140).prop_map(|(h, p)| format!("ip6:2001:db8:{h:x}::/{p}")),
    ]
}

/// Cases per property: 3,000 in the test suite; `MXWATCH_FUZZ_CASES=1000000` for a sustained run.
fn cases() -> u32 {
    std::env::var("MXWATCH_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic(text in "\\PC{0,300}") {
        let _ = spf::parse(&text);
        let _ = spf::parse(&format!("v=spf1 {text}"));
        let _ = dmarc::parse(&text);
        let _ = dmarc::parse(&format!("v=DMARC1; {text}"));
        let _ = dkim::parse(&text);
        let _ = tlsrpt::parse(&text);
        let _ = bimi::parse(&format!("v=BIMI1; {text}"));
        let _ = taglist::parse(&text);
    }

    #[test]
    fn evaluation_never_panics(terms in prop::collection::vec(spf_term(), 0..12), ip in any::<u32>()) {
        let record = format!("v=spf1 {}", terms.join(" "));
        let mut answers = spf_eval::Answers::new();
        answers.insert("TXT example.test".into(), seen(record.clone()));
        answers.insert("TXT _spf.example.test".into(), seen(record));
        let _ = spf_eval::audit("example.test", &answers);
        let _ = spf_eval::check_host(std::net::Ipv4Addr::from(ip).into(), "example.test", &answers);
    }

    #[test]
    fn what_we_accept_receivers_accept(terms in prop::collection::vec(spf_known_term(), 0..8)) {
        let record = format!("v=spf1 {}", terms.join(" "));
        if spf::parse(&record).is_ok() {
            prop_assert!(mail_auth::spf::Spf::parse(record.as_bytes()).is_ok(), "{}", record);
        }
    }

    #[test]
    fn dmarc_we_accept_receivers_accept(
        p in prop_oneof![Just("none"), Just("quarantine"), Just("reject"), Just("bogus")],
        pct in 0u16..=200,
        rua in prop_oneof![Just("mailto:d@example.test"), Just("d@example.test"), Just("mailto:a@b.test!10m")],
    ) {
        let record = format!("v=DMARC1; p={p}; pct={pct}; rua={rua}");
        if dmarc::parse(&record).is_ok() {
            prop_assert!(mail_auth::dmarc::Dmarc::parse(record.as_bytes()).is_ok(), "{}", record);
        }
    }
}

/// Why we parse for ourselves: the receivers' parser is lenient where an audit must not be.
#[test]
fn mail_auth_is_lenient_where_an_audit_must_not_be() {
    for record in ["v=spf1 ipv4:192.0.2.1 -all", "v=spf1 ip4:192.0.2.0/33 -all"] {
        assert!(
            mail_auth::spf::Spf::parse(record.as_bytes()).is_ok(),
            "{record}"
        );
        assert!(spf::parse(record).is_err(), "{record}");
    }
}
