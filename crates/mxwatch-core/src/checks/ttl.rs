//! Is the MX TTL sensible?

use super::{Check, CheckContext, Hit, Subject};
use crate::finding::Severity;

/// Below this, every sender re-asks constantly and a resolver outage is felt at once.
pub const MIN_MX_TTL: u32 = 300;
/// Above this, a change (or an emergency move) takes more than a day to reach everyone.
pub const MAX_MX_TTL: u32 = 86_400;

pub static MX_TTL: Check = Check {
    id: "MX-TTL",
    severity: Severity::Low,
    title: "MX TTL too low or too high",
    explanation: "A TTL under five minutes makes every sender query the domain's nameservers again and again, \
                  and makes mail fail as soon as they are unreachable. A TTL over a day means a change of mail \
                  provider, or an emergency move away from a compromised host, takes days to reach all senders.",
    fix: "Use a TTL between 300 and 86400 seconds (3600 is common); lower it a day ahead of a planned change.",
    reference: "RFC 1035 §3.2.1; RFC 1912 §2.2",
    run: mx_ttl,
};

fn mx_ttl(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    // The published TTL when the nameservers were asked; otherwise the resolver's, which
    // may have counted down from the published one (so "too high" is certain, "too low" is
    // said with that caveat).
    let (ttl, source) = match (obs.published_mx_ttl(), obs.mx.ttl()) {
        (Some(published), _) => (published, ""),
        (None, Some(cached)) => (
            cached,
            " (as cached by the resolver: the published TTL may be higher)",
        ),
        (None, None) => return vec![],
    };
    if obs
        .mx
        .value()
        .is_some_and(|r| r.iter().all(|m| m.is_null()))
    {
        return vec![];
    }
    let detail = if ttl < MIN_MX_TTL {
        format!("the MX TTL is {ttl} s, under {MIN_MX_TTL} s{source}")
    } else if ttl > MAX_MX_TTL {
        format!(
            "the MX TTL is {ttl} s ({:.1} days), over {MAX_MX_TTL} s",
            f64::from(ttl) / 86_400.0
        )
    } else {
        return vec![];
    };
    vec![Hit::new(obs.domain.display(), detail)]
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::observation::lookup::Lookup;

    fn with_ttl(ttl: u32) -> crate::Observation {
        let mut obs = healthy();
        if let Lookup::Observed { ttl: t, .. } = &mut obs.mx {
            *t = ttl;
        }
        obs
    }

    #[test]
    fn bounds() {
        assert_eq!(ids(&with_ttl(60)), ["MX-TTL"]);
        assert_eq!(ids(&with_ttl(604_800)), ["MX-TTL"]);
        assert!(ids(&with_ttl(300)).is_empty());
        assert!(ids(&with_ttl(86_400)).is_empty());
    }
}
