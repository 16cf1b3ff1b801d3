//! What the mail-authentication checks share: whether the domain takes mail, and which DMARC
//! record governs it.

use crate::observation::Observation;
use crate::observation::lookup::Lookup;
use crate::records::dmarc::{self, DmarcRecord};
use std::cell::OnceCell;

/// The MX set is only the null MX (`MX 0 .`, RFC 7505): the domain takes no mail.
pub(super) fn null_mx(obs: &Observation) -> bool {
    obs.mx
        .value()
        .is_some_and(|records| !records.is_empty() && records.iter().all(|r| r.is_null()))
}

/// The MX set names at least one real exchange.
pub(super) fn receives_mail(obs: &Observation) -> bool {
    obs.mx
        .value()
        .is_some_and(|records| records.iter().any(|r| !r.is_null()))
}

/// The DMARC record that applies to the domain: its own, else its organisational domain's.
pub(super) struct Governing<'a> {
    /// The domain whose `_dmarc` record it is.
    pub domain: String,
    /// Inherited from the organisational domain (its `sp=` applies).
    pub inherited: bool,
    pub records: &'a [String],
    /// [`Governing::parsed`], parsed the first time a check asks.
    parsed: OnceCell<Result<DmarcRecord, String>>,
}

impl Governing<'_> {
    /// The one valid record, or why there is none (several records, or a syntax error).
    pub fn parsed(&self) -> Result<&DmarcRecord, &str> {
        self.parsed
            .get_or_init(|| {
                if self.records.len() > 1 {
                    return Err(format!(
                        "_dmarc.{} has {} DMARC records; receivers then apply none (RFC 7489 §6.6.3)",
                        self.domain,
                        self.records.len()
                    ));
                }
                dmarc::parse(&self.records[0]).map_err(|e| format!("_dmarc.{}: {e}", self.domain))
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// The policy for mail from the domain: `p`, or the organisational `sp` when inherited.
    pub fn policy(&self, record: &DmarcRecord) -> dmarc::Policy {
        if self.inherited {
            record.subdomain_policy()
        } else {
            record.policy()
        }
    }
}

/// What governs the domain: `Ok(Some)`, `Ok(None)` when there is definitely no record, `Err(())`
/// when it could not be told (a lookup failed, or the policy records were not collected). Checks
/// read it once per report, through [`super::Subject::governing_dmarc`].
pub(super) fn governing_dmarc(obs: &Observation) -> Result<Option<Governing<'_>>, ()> {
    let policy = obs.policy.as_ref().ok_or(())?;
    match &policy.dmarc {
        Lookup::Observed { value, .. } if !value.is_empty() => {
            return Ok(Some(Governing {
                domain: obs.domain.ascii.clone(),
                inherited: false,
                records: value,
                parsed: OnceCell::new(),
            }));
        }
        Lookup::Failed { .. } => return Err(()),
        _ => {}
    }
    if obs.mail_auth.is_none()
        && crate::observation::mailauth::organisational_domain(&obs.domain.ascii)
            != obs.domain.ascii
    {
        // The organisational domain was not asked (an observation from before it was collected).
        return Err(());
    }
    let org = obs.mail_auth.as_ref().and_then(|m| m.dmarc_org.as_ref());
    match org.map(|o| (&o.domain, &o.record)) {
        None => Ok(None),
        Some((domain, Lookup::Observed { value, .. })) if !value.is_empty() => {
            Ok(Some(Governing {
                domain: domain.clone(),
                inherited: true,
                records: value,
                parsed: OnceCell::new(),
            }))
        }
        Some((_, Lookup::Failed { .. })) => Err(()),
        Some(_) => Ok(None),
    }
}

/// The records of an observed lookup, `None` when absent, failed, or empty.
pub(super) fn records<T>(lookup: &Lookup<Vec<T>>) -> Option<&[T]> {
    lookup.value().map(Vec::as_slice).filter(|v| !v.is_empty())
}
