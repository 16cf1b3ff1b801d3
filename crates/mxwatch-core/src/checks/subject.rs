//! The observation under check, with what several checks derive from it computed once per report.
//!
//! Four SPF checks read the domain's own SPF record, six the audit walk of its include tree (which
//! parses every record in it), two evaluate `check_host()` for several addresses each; four MTA-STS
//! checks read the parsed policy and five DMARC, BIMI and null-MX checks the governing DMARC record.
//! Each used to parse and walk again: in a bulk scan that was most of the checks' CPU.
//! [`run_all`] builds one `Subject` per report; the derived values are computed the first time a
//! check asks (so an observation without SPF costs nothing) and shared by every check after it.
//! The checks stay pure functions of the observation: a `Subject` holds nothing else.
//!
//! [`run_all`]: super::run_all

use super::mail_common::Governing;
use crate::observation::Observation;
use crate::records::mta_sts::StsPolicy;
use crate::records::spf::SpfRecord;
use crate::records::spf::eval::{Audit, SpfAnswers};
use std::cell::OnceCell;
use std::ops::Deref;
use std::rc::Rc;

pub struct Subject<'a> {
    observation: &'a Observation,
    /// The SPF answers the collector recorded, with each record parsed at most once.
    spf_answers: Option<SpfAnswers<'a>>,
    own_spf: OnceCell<Option<Rc<SpfRecord>>>,
    spf_audit: OnceCell<Option<Audit>>,
    sts_policy: OnceCell<Option<Result<StsPolicy, Vec<String>>>>,
    governing_dmarc: OnceCell<Result<Option<Governing<'a>>, ()>>,
}

impl<'a> Subject<'a> {
    pub fn new(observation: &'a Observation) -> Self {
        Subject {
            observation,
            spf_answers: observation
                .mail_auth
                .as_ref()
                .map(|m| SpfAnswers::new(&m.spf_answers)),
            own_spf: OnceCell::new(),
            spf_audit: OnceCell::new(),
            sts_policy: OnceCell::new(),
            governing_dmarc: OnceCell::new(),
        }
    }

    /// The domain's one SPF record, parsed ([`super::spf::own_record`]). The same text is at the
    /// top of the recorded SPF answers: parsed through them, the audit walk reuses it.
    pub fn own_spf(&self) -> Option<&SpfRecord> {
        self.own_spf
            .get_or_init(|| {
                let text = super::spf::own_record_text(self.observation)?;
                match &self.spf_answers {
                    Some(answers) => answers.parse(text).ok(),
                    None => crate::records::spf::parse(text).ok().map(Rc::new),
                }
            })
            .as_deref()
    }

    /// The recorded SPF answers, for `check_host()`; `None` when they were not collected.
    pub fn spf_answers(&self) -> Option<&SpfAnswers<'a>> {
        self.spf_answers.as_ref()
    }

    /// The audit of the whole include tree; `None` when the domain has no one valid SPF record or
    /// the answers were not collected.
    pub fn spf_audit(&self) -> Option<&Audit> {
        self.spf_audit
            .get_or_init(|| {
                self.own_spf()?;
                Some(self.spf_answers()?.audit(&self.observation.domain.ascii))
            })
            .as_ref()
    }

    /// The fetched MTA-STS policy parsed, or its problems; `None` when none was fetched.
    pub fn sts_policy(&self) -> Option<&Result<StsPolicy, Vec<String>>> {
        self.sts_policy
            .get_or_init(|| super::mta_sts::parse_fetched(self.observation))
            .as_ref()
    }

    /// The DMARC record that governs the domain ([`super::mail_common::governing_dmarc`]), parsed
    /// at most once ([`Governing::parsed`]).
    pub(super) fn governing_dmarc(&self) -> Result<Option<&Governing<'a>>, ()> {
        match self
            .governing_dmarc
            .get_or_init(|| super::mail_common::governing_dmarc(self.observation))
        {
            Ok(governing) => Ok(governing.as_ref()),
            Err(()) => Err(()),
        }
    }
}

/// Checks read the observation's fields directly (`obs.exchanges`, `obs.domain` …), as they did
/// when they were given the observation itself.
impl Deref for Subject<'_> {
    type Target = Observation;

    fn deref(&self) -> &Observation {
        self.observation
    }
}
