//! The rules of a change's life, on core types only: which kinds undo which, when two looks saw
//! the same change, when a change is already an open one, and when a change reverts an open one.
//!
//! A monitor sees a change, confirms it with a second look, records it and keeps it open until it
//! is approved or undone. Which event undoes which is a fact about the events, not about the
//! store or the watch loop, so it is said once here; the loop only asks.

use super::diff::{Change, ChangeKind};

impl ChangeKind {
    /// The event that undoes this one: `MxAdded` ↔ `MxRemoved`, `AddressAdded` ↔ `AddressRemoved`,
    /// `StarttlsLost` ↔ `StarttlsGained`, `MxSetGone` ↔ `MxSetBack`, `FindingAppeared` ↔
    /// `FindingCleared`. `None` for a kind that is undone by itself with the old value back (a
    /// preference, a TTL, a record that changed).
    pub fn inverse(self) -> Option<ChangeKind> {
        use ChangeKind::*;
        Some(match self {
            MxAdded => MxRemoved,
            MxRemoved => MxAdded,
            AddressAdded => AddressRemoved,
            AddressRemoved => AddressAdded,
            StarttlsLost => StarttlsGained,
            StarttlsGained => StarttlsLost,
            MxSetGone => MxSetBack,
            MxSetBack => MxSetGone,
            FindingAppeared => FindingCleared,
            FindingCleared => FindingAppeared,
            MxPreferenceChanged
            | MxTtlChanged
            | CnameChanged
            | NsChanged
            | SoaSerialChanged
            | CertificateChanged
            | TlsVersionChanged
            | SpfChanged
            | DmarcChanged
            | DmarcWeakened
            | MtaStsChanged
            | TlsRptChanged
            | DkimKeyChanged
            | DnssecChanged
            | TlsaChanged
            | RegistrationExpiring
            | RegistrationExpiryChanged
            | RegistrationLockChanged
            | Consequence => return None,
        })
    }

    /// A finding appeared or cleared: its `new`/`old` hold the finding's detail, which varies
    /// from look to look (timings, counts), so only kind and subject identify it.
    pub fn is_finding(self) -> bool {
        matches!(
            self,
            ChangeKind::FindingAppeared | ChangeKind::FindingCleared
        )
    }

    /// Identified by kind and subject alone: a finding, or a change's consequence, whose text
    /// varies from look to look (timings, counts, dates).
    pub fn keyed_by_subject(self) -> bool {
        self.is_finding() || self == ChangeKind::Consequence
    }

    /// A change of the MX set itself: what an alert's `MX before → after` line says.
    pub fn is_mx_set(self) -> bool {
        matches!(
            self,
            ChangeKind::MxAdded
                | ChangeKind::MxRemoved
                | ChangeKind::MxPreferenceChanged
                | ChangeKind::MxSetGone
                | ChangeKind::MxSetBack
        )
    }
}

/// Two looks saw the same change: same kind and subject, and the same new value (any value for a
/// finding, whose detail varies).
pub fn same_change(a: &Change, b: &Change) -> bool {
    a.kind == b.kind && a.subject == b.subject && (a.kind.keyed_by_subject() || a.new == b.new)
}

/// `change` is the open change `open` again (the baseline could not move on last time).
pub fn already_recorded(open: &Change, change: &Change) -> bool {
    same_change(open, change)
}

/// `change` undoes the open change `original`: the inverse event with the values swapped, or the
/// same kind with the old value back. A finding that clears undoes its appearance whatever its
/// detail said.
pub fn reverts(original: &Change, change: &Change) -> bool {
    if original.subject != change.subject {
        return false;
    }
    if change.kind.is_finding() {
        return change.kind.inverse() == Some(original.kind);
    }
    match change.kind.inverse() {
        Some(kind) => {
            original.kind == kind && original.old == change.new && original.new == change.old
        }
        None => original.kind == change.kind && original.old == change.new,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;

    fn change(kind: ChangeKind, subject: &str, old: Option<&str>, new: Option<&str>) -> Change {
        Change {
            kind,
            severity: Severity::High,
            subject: subject.into(),
            old: old.map(Into::into),
            new: new.map(Into::into),
        }
    }

    /// Ported from the watch cycle's `reverting_changes`.
    #[test]
    fn reverting_changes() {
        let added = change(ChangeKind::MxAdded, "mx9.a.test", None, Some("10"));
        assert!(reverts(
            &added,
            &change(ChangeKind::MxRemoved, "mx9.a.test", Some("10"), None)
        ));
        assert!(!reverts(
            &added,
            &change(ChangeKind::MxRemoved, "mx8.a.test", Some("10"), None)
        ));
        let moved = change(
            ChangeKind::MxPreferenceChanged,
            "mx1.a.test",
            Some("10"),
            Some("20"),
        );
        assert!(reverts(
            &moved,
            &change(
                ChangeKind::MxPreferenceChanged,
                "mx1.a.test",
                Some("20"),
                Some("10")
            )
        ));
        assert!(!reverts(
            &moved,
            &change(
                ChangeKind::MxPreferenceChanged,
                "mx1.a.test",
                Some("20"),
                Some("30")
            )
        ));
    }

    #[test]
    fn a_cleared_finding_reverts_its_appearance_whatever_the_detail() {
        let subject = "SMTP-SLOW-GREETING mx1.a.test";
        let appeared = change(ChangeKind::FindingAppeared, subject, None, Some("9 s"));
        let cleared = change(ChangeKind::FindingCleared, subject, Some("12 s"), None);
        assert!(reverts(&appeared, &cleared));
        assert!(reverts(&cleared, &appeared));
        assert!(!reverts(&appeared, &appeared));
        let other = change(ChangeKind::FindingCleared, "MX-TTL a.test", Some("x"), None);
        assert!(!reverts(&appeared, &other));
    }

    #[test]
    fn same_and_already_recorded() {
        let a = change(ChangeKind::MxTtlChanged, "a.test", Some("300"), Some("60"));
        let b = change(ChangeKind::MxTtlChanged, "a.test", Some("3600"), Some("60"));
        let c = change(ChangeKind::MxTtlChanged, "a.test", Some("300"), Some("30"));
        assert!(same_change(&a, &b));
        assert!(!same_change(&a, &c));
        assert!(already_recorded(&a, &b));
        assert!(!already_recorded(&a, &c));
        let f1 = change(
            ChangeKind::FindingAppeared,
            "MX-TTL a.test",
            None,
            Some("60 s"),
        );
        let f2 = change(
            ChangeKind::FindingAppeared,
            "MX-TTL a.test",
            None,
            Some("30 s"),
        );
        assert!(same_change(&f1, &f2));
        assert!(already_recorded(&f1, &f2));
        let other_kind = change(
            ChangeKind::FindingCleared,
            "MX-TTL a.test",
            None,
            Some("60 s"),
        );
        assert!(!same_change(&f1, &other_kind));
    }

    #[test]
    fn a_consequence_is_the_same_whatever_its_text_and_reverts_nothing() {
        let finding = |detail: &str| crate::finding::Finding {
            id: crate::FindingId::new("CHANGE-MX-DRAIN"),
            severity: crate::Severity::Info,
            subject: "mx2.a.test".into(),
            title: String::new(),
            detail: detail.into(),
            fix: String::new(),
            reference: String::new(),
        };
        let a = Change::consequence(&finding(
            "safe to decommission mx2.a.test after 2026-12-14 09:30 UTC",
        ));
        let b = Change::consequence(&finding(
            "safe to decommission mx2.a.test after 2026-12-14 09:31 UTC",
        ));
        assert_eq!(a.subject, "CHANGE-MX-DRAIN mx2.a.test");
        assert!(same_change(&a, &b));
        assert!(!reverts(&a, &b));
    }

    #[test]
    fn inverse_is_symmetric() {
        for kind in ChangeKind::ALL {
            if let Some(inverse) = kind.inverse() {
                assert_ne!(inverse, kind, "{kind} is its own inverse");
                assert_eq!(inverse.inverse(), Some(kind), "{kind} → {inverse} → ?");
            }
            assert_eq!(
                kind.is_finding(),
                kind.inverse().is_some_and(ChangeKind::is_finding)
            );
        }
        let paired = ChangeKind::ALL
            .iter()
            .filter(|k| k.inverse().is_some())
            .count();
        assert_eq!(paired, 10);
    }

    #[test]
    fn kinds_parse_back_from_their_names() {
        for kind in ChangeKind::ALL {
            assert_eq!(kind.as_str().parse::<ChangeKind>(), Ok(kind));
            assert_eq!(kind.to_string(), kind.as_str());
            // The serialised name is the stored one.
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::from(kind.as_str())
            );
        }
        assert!("mx-moved".parse::<ChangeKind>().is_err());
        assert!("MX-ADDED".parse::<ChangeKind>().is_err());
        assert!("".parse::<ChangeKind>().is_err());
    }

    #[test]
    fn every_kind_is_listed_in_all() {
        // Adding a kind fails to compile here: add it to `ChangeKind::ALL` too.
        fn listed(kind: ChangeKind) -> bool {
            use ChangeKind::*;
            match kind {
                MxAdded
                | MxRemoved
                | MxPreferenceChanged
                | MxTtlChanged
                | MxSetGone
                | MxSetBack
                | AddressAdded
                | AddressRemoved
                | CnameChanged
                | NsChanged
                | SoaSerialChanged
                | CertificateChanged
                | StarttlsLost
                | StarttlsGained
                | TlsVersionChanged
                | FindingAppeared
                | FindingCleared
                | SpfChanged
                | DmarcChanged
                | DmarcWeakened
                | MtaStsChanged
                | TlsRptChanged
                | DkimKeyChanged
                | DnssecChanged
                | TlsaChanged
                | RegistrationExpiring
                | RegistrationExpiryChanged
                | RegistrationLockChanged
                | Consequence => ChangeKind::ALL.contains(&kind),
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for kind in ChangeKind::ALL {
            assert!(listed(kind));
            assert!(seen.insert(kind.as_str()), "{kind} listed twice");
        }
    }
}
