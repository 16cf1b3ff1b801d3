//! Pre-flight of a zone change (`check DOMAIN --zone FILE`): the domain audited as if the zone
//! files were published, beside what is live, and what the change would do.
//!
//! Two looks through the same settings: the live one (what senders see now) and the proposed
//! one, whose DNS answers for names inside the zones come from the files
//! ([`mxwatch_probe::zone::Overlay`]) while everything outside (the provider's hosts, their
//! certificates, the policy host if outside) is collected live. The consequences are
//! [`mxwatch_core::checks::transition::consequences`] from live to proposed: the same rules
//! `watch` applies to a change it saw.

use crate::audit::{Auditor, now_unix};
use crate::error::EngineError;
use mxwatch_core::checks::transition::consequences;
use mxwatch_core::{DomainName, Finding, Report};
use mxwatch_probe::zone::{Overlay, ZoneFile};
use std::path::PathBuf;
use std::sync::Arc;

/// The outcome of one pre-flight.
pub struct Preflight {
    /// What is live now; `None` offline (nothing was asked).
    pub live: Option<Report>,
    /// The audit as if the zones were published.
    pub proposed: Report,
    /// What the change would do (live → proposed); empty offline.
    pub consequences: Vec<Finding>,
    /// The zones as read, for locating records.
    pub overlay: Arc<Overlay>,
}

/// Reads the zone files; relative names are relative to `$ORIGIN`, else to the domain. A file
/// that cannot be read or parsed, or zones none of which holds the domain, is a settings error
/// (exit 2) before any network traffic.
pub fn load_zones(
    paths: &[PathBuf],
    domain: &DomainName,
    offline: bool,
) -> Result<Overlay, EngineError> {
    let zones = paths
        .iter()
        .map(|p| ZoneFile::load(p, &domain.ascii))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| EngineError::Settings(e.to_string()))?;
    let overlay = Overlay { zones, offline };
    if overlay.zone_for(&domain.ascii).is_none() {
        return Err(EngineError::Settings(format!(
            "none of the zone files holds {} (their apexes: {})",
            domain.ascii,
            overlay
                .zones
                .iter()
                .map(|z| z.apex.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(overlay)
}

/// Audits `domain` live (unless offline) and as proposed, and judges the change.
pub async fn preflight(auditor: &Auditor, domain: &DomainName, overlay: Overlay) -> Preflight {
    let overlay = Arc::new(overlay);
    let ctx = auditor.check_context();
    let live_collector = auditor.collector();
    // One SMTP dialogue per host for both looks: the hosts they share are the same hosts.
    let proposed_collector = auditor
        .collector_over(overlay.clone())
        .sharing_smtp_with(&live_collector);
    let proposed = Auditor::audit_with(&proposed_collector, domain, &[], &ctx, vec![]);
    let (live, proposed) = if overlay.offline {
        (None, proposed.await)
    } else {
        let live = Auditor::audit_with(&live_collector, domain, &[], &ctx, vec![]);
        let (live, proposed) = tokio::join!(live, proposed);
        (Some(live), proposed)
    };
    let consequences = live
        .as_ref()
        .map(|live| consequences(&live.observation, &proposed.observation, now_unix()))
        .unwrap_or_default();
    Preflight {
        live,
        proposed,
        consequences,
        overlay,
    }
}
