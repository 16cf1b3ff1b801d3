//! The notes catalogue of `mxwatch headers`: one registry, like [`crate::checks::CHECKS`].
//!
//! A header analysis remarks on the message with [`Note`]s whose codes scripts read
//! (`HEADERS-MX-BYPASS`, …). Each code is a [`NoteKind`] here, with its level and its
//! documentation; the analysis builds its notes from these entries ([`Note::new`]), never from
//! a string of its own, and `mxwatch explain`, `explain --all` and `docs/checks.md` are loops
//! over [`NOTES`]. Adding a note is a `static` here plus one line in [`NOTES`].
//!
//! Notes are not findings: they describe one delivered message, not a domain's configuration,
//! so they have a level (info or warning) rather than a severity.

use super::{Note, NoteLevel};

/// A kind of note: its stable code, level and documentation.
#[derive(Debug)]
pub struct NoteKind {
    /// Stable code; users script on it. Never reuse or rename one.
    pub id: &'static str,
    pub level: NoteLevel,
    pub title: &'static str,
    /// What it means, for a person reading a header for the first time.
    pub explanation: &'static str,
    pub fix: &'static str,
    pub reference: &'static str,
}

impl Note {
    /// A note of `kind`, saying `text` about this message.
    pub fn new(kind: &'static NoteKind, text: impl Into<String>) -> Note {
        Note {
            code: kind.id,
            level: kind.level,
            text: text.into(),
        }
    }
}

pub static INPUT: NoteKind = NoteKind {
    id: "HEADERS-INPUT",
    level: NoteLevel::Info,
    title: "How the input was read",
    explanation: "The input was not a bare header section: it was an mbox, whose first message was read \
                  (its \"From \" separator line skipped). Said so that it is clear which message the analysis is of.",
    fix: "Nothing to fix. To read another message of an mbox, save it on its own and give that file.",
    reference: "RFC 4155 (the mbox format); RFC 5322 §2.1",
};

pub static NO_RECEIVED: NoteKind = NoteKind {
    id: "HEADERS-NO-RECEIVED",
    level: NoteLevel::Warning,
    title: "The header has no Received field",
    explanation: "Every SMTP server that relays or delivers a message adds a Received field at the top of its \
                  header, so a delivered message has at least one. None means the input is not the whole header \
                  section (a mail client's header view often leaves them out), or the message never went through \
                  SMTP: there is no trace to follow and no MX hop to find.",
    fix: "Give the complete header section: the raw message (\"Show original\", \"View source\", the .eml file).",
    reference: "RFC 5321 §4.4; RFC 5322 §3.6.7",
};

pub static HOPS_CAPPED: NoteKind = NoteKind {
    id: "HEADERS-HOPS-CAPPED",
    level: NoteLevel::Warning,
    title: "More Received fields than are read",
    explanation: "Only the 100 hops nearest the recipient (the top of the header) are kept: those are the ones the \
                  recipient's own hosts wrote, while the bottom of a long chain is where a sender can put anything. \
                  A real message rarely has more than a dozen hops; a hundred suggests a mail loop or a crafted header.",
    fix: "Nothing to fix in DNS. If the chain is real, look for a forwarding loop between the hosts that repeat in it.",
    reference: "RFC 5321 §4.4, §6.3 (loops are detected by counting Received fields)",
};

pub static UNPARSED_RECEIVED: NoteKind = NoteKind {
    id: "HEADERS-UNPARSED-RECEIVED",
    level: NoteLevel::Warning,
    title: "A Received field could not be read",
    explanation: "The field does not follow the Received syntax closely enough to tell which host received the \
                  message, so the hop is shown raw and takes no part in finding where the message entered the MX. \
                  Hosts that write free-form Received fields cause it, and so do senders forging them.",
    fix: "Nothing to fix if the hop is upstream of the recipient. If it is one of the recipient's own hosts, make it \
          write standard Received fields (from, by, with, id, and the date after the ';').",
    reference: "RFC 5321 §4.4; RFC 5322 §3.6.7",
};

pub static PARTIAL_RECEIVED: NoteKind = NoteKind {
    id: "HEADERS-PARTIAL-RECEIVED",
    level: NoteLevel::Info,
    title: "A Received field lacks its receiving host or its date",
    explanation: "The field was read, but without a `by` host, or without a date (or with one that cannot be \
                  read). Without the `by` host the hop cannot be compared with the MX; without a date, the delay \
                  to the next hop cannot be worked out.",
    fix: "Nothing to fix if the hop is upstream of the recipient. If it is one of the recipient's own hosts, make it \
          write the `by` clause and an RFC 5322 date.",
    reference: "RFC 5321 §4.4; RFC 5322 §3.3, §3.6.7",
};

pub static CLOCK_SKEW: NoteKind = NoteKind {
    id: "HEADERS-CLOCK-SKEW",
    level: NoteLevel::Warning,
    title: "A hop is stamped before the previous one",
    explanation: "Each host stamps its Received field with its own clock, so a hop dated earlier than the hop \
                  before it means the two clocks disagree (or one's time zone is wrong). The delays around that \
                  hop cannot be trusted, and a wrong clock also upsets signature expiry, certificate checks and \
                  the matching of logs between hosts.",
    fix: "Synchronise the named host's clock (NTP) and check its time zone.",
    reference: "RFC 5322 §3.3; RFC 5905",
};

pub static MX_NOT_CHECKED: NoteKind = NoteKind {
    id: "HEADERS-MX-NOT-CHECKED",
    level: NoteLevel::Info,
    title: "Where the message entered the MX was not looked for",
    explanation: "Finding the MX hop needs the recipient domain and its MX: no recipient domain was given or found \
                  (--domain, Delivered-To, X-Original-To, To), or no DNS was asked (--no-resolve). Nothing is \
                  claimed about the MX.",
    fix: "Give the recipient domain with --domain, and leave out --no-resolve.",
    reference: "RFC 5321 §5.1",
};

pub static MX_INDETERMINATE: NoteKind = NoteKind {
    id: "HEADERS-MX-INDETERMINATE",
    level: NoteLevel::Warning,
    title: "Could not determine where the message entered the MX",
    explanation: "The MX lookup of the recipient domain failed, or a hop's host could not be resolved to compare \
                  with the MX. Rather than guess, nothing is concluded; the note says which lookup failed.",
    fix: "Run it again when DNS answers, or with another --resolver.",
    reference: "RFC 5321 §5.1",
};

pub static NO_SUCH_DOMAIN: NoteKind = NoteKind {
    id: "HEADERS-NO-SUCH-DOMAIN",
    level: NoteLevel::Warning,
    title: "The recipient domain does not exist",
    explanation: "DNS answers NXDOMAIN for the recipient domain, so it has no MX, yet the message was delivered to \
                  it: the domain has gone since, the wrong domain was taken as the recipient's, or the header is \
                  not what it claims.",
    fix: "Check which domain is the recipient's (give it with --domain), and that domain's registration and delegation.",
    reference: "RFC 5321 §5.1; RFC 8020",
};

pub static NULL_MX: NoteKind = NoteKind {
    id: "HEADERS-NULL-MX",
    level: NoteLevel::Warning,
    title: "The recipient domain publishes the null MX",
    explanation: "A null MX (one MX record, `0 .`) says the domain accepts no mail, yet this message was delivered \
                  to it: the null MX was published after the delivery, the mail came another way, or the wrong \
                  domain was taken as the recipient's.",
    fix: "If the domain does receive mail, replace the null MX with its exchanges; if not, find out how this message \
          got in.",
    reference: "RFC 7505",
};

pub static MX_ENTRY: NoteKind = NoteKind {
    id: "HEADERS-MX-ENTRY",
    level: NoteLevel::Info,
    title: "The message entered through the primary MX",
    explanation: "The first hop at an exchange of the recipient domain (by name, by address, or by address literal) \
                  is at one of the best preference: the mail arrived the way the MX set says it should. The hops \
                  after it are the recipient's own; the fields below it were written by the sender and its relays, \
                  and anyone can write those.",
    fix: "Nothing to fix.",
    reference: "RFC 5321 §5.1",
};

pub static BACKUP_MX: NoteKind = NoteKind {
    id: "HEADERS-BACKUP-MX",
    level: NoteLevel::Warning,
    title: "The message entered through a backup MX",
    explanation: "It reached the domain at an exchange of a worse preference than the best. Senders use a backup \
                  when the primary does not answer, so the primary may have been down; spammers also go to backups \
                  on purpose, because backups often filter less or accept mail for any recipient.",
    fix: "If the primary was up at the time, make the backup filter as the primary does (the same recipient, spam \
          and authentication checks), or remove it: senders queue and retry for days, so most domains need no backup MX.",
    reference: "RFC 5321 §5.1",
};

pub static MX_BYPASS: NoteKind = NoteKind {
    id: "HEADERS-MX-BYPASS",
    level: NoteLevel::Warning,
    title: "The message reached a host of the domain without passing its MX",
    explanation: "The first host of the recipient's own domain in the chain is none of its MX, and no MX hop comes \
                  before it: the sender delivered straight to a backend (a mailbox server or an internal relay) that \
                  accepts mail from the internet. Whoever does so skips the filtering the MX applies.",
    fix: "Let that host accept mail only from the MX hosts (a firewall or the MTA's access rules), or make it an MX \
          and filter there too.",
    reference: "RFC 5321 §5.1",
};

pub static NO_MX_HOP: NoteKind = NoteKind {
    id: "HEADERS-NO-MX-HOP",
    level: NoteLevel::Warning,
    title: "No hop is at an MX host of the domain",
    explanation: "None of the receiving hosts in the chain is an exchange of the recipient domain (by name or \
                  address), nor another host of the domain. The MX may have changed since the delivery, the \
                  receiving hosts may name themselves differently (a provider's internal names), or the header may \
                  be incomplete.",
    fix: "Compare the `by` hosts of the top hops with the domain's MX (`mxwatch check DOMAIN`); if they are the \
          provider's own names for its exchanges, nothing is wrong.",
    reference: "RFC 5321 §4.4, §5.1",
};

pub static AR_BEFORE_ENTRY: NoteKind = NoteKind {
    id: "HEADERS-AR-BEFORE-ENTRY",
    level: NoteLevel::Warning,
    title: "An Authentication-Results field was there before the recipient's hosts",
    explanation: "The field sits below the hop where the message entered the recipient's MX, so it was in the \
                  message before the recipient's hosts saw it. Anyone upstream, the sender too, can write such a \
                  field with any verdict; only those the recipient's own hosts add mean anything.",
    fix: "Trust only the results your own hosts write (your authserv-id), and have the receiving MTA remove fields \
          that claim your authserv-id on arrival.",
    reference: "RFC 8601 §5",
};

/// Every note kind, in the order `explain --all` lists them: how the input was read, the
/// Received chain, the MX hop, the Authentication-Results.
pub static NOTES: &[&NoteKind] = &[
    &INPUT,
    &NO_RECEIVED,
    &HOPS_CAPPED,
    &UNPARSED_RECEIVED,
    &PARTIAL_RECEIVED,
    &CLOCK_SKEW,
    &MX_NOT_CHECKED,
    &MX_INDETERMINATE,
    &NO_SUCH_DOMAIN,
    &NULL_MX,
    &MX_ENTRY,
    &BACKUP_MX,
    &MX_BYPASS,
    &NO_MX_HOP,
    &AR_BEFORE_ENTRY,
];

/// The heading of the notes' section in `explain --all` and `docs/checks.md`.
pub const SECTION_TITLE: &str = "Received-header analysis (mxwatch headers)";

/// Looks a note kind up by code, ignoring case.
pub fn find(id: &str) -> Option<&'static NoteKind> {
    NOTES
        .iter()
        .copied()
        .find(|n| n.id.eq_ignore_ascii_case(id))
}

/// The notes as a Markdown section, appended to the checks catalogue in `docs/checks.md`.
pub fn catalogue_markdown() -> String {
    let mut out = format!(
        "\n# {SECTION_TITLE}\n\n\
         `mxwatch headers` reads one received message's header section and remarks on it with notes. They are not\n\
         findings about a domain's configuration but about one delivery, so they have a level instead of a severity:\n\
         **info** worth knowing; **warning** something about this delivery deserves a look. Their codes are stable.\n\n\
         | ID | Level | Title |\n|---|---|---|\n"
    );
    out.push_str(&crate::checks::catalogue_entries(NOTES.iter().map(|n| {
        crate::checks::CatalogueEntry {
            id: n.id,
            grade: n.level.as_str(),
            title: n.title,
            explanation: n.explanation,
            fix: n.fix,
            reference: n.reference,
        }
    })));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for note in NOTES {
            assert!(seen.insert(note.id), "duplicate ID {}", note.id);
            let rest = note.id.strip_prefix("HEADERS-").unwrap_or_default();
            assert!(
                !rest.is_empty()
                    && !rest.starts_with('-')
                    && !rest.ends_with('-')
                    && !rest.contains("--")
                    && rest
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'),
                "malformed ID {}",
                note.id
            );
            for (what, text) in [
                ("title", note.title),
                ("explanation", note.explanation),
                ("fix", note.fix),
                ("reference", note.reference),
            ] {
                assert!(!text.trim().is_empty(), "{} has no {what}", note.id);
            }
            assert_eq!(
                find(&note.id.to_ascii_lowercase()).map(|n| n.id),
                Some(note.id)
            );
        }
        // No code is shared with a check: `explain ID` must be unambiguous.
        for check in crate::checks::CHECKS {
            assert!(
                find(check.id).is_none(),
                "{} is a check and a note",
                check.id
            );
        }
        assert!(
            HOPS_CAPPED
                .explanation
                .contains(&super::super::MAX_HOPS.to_string())
        );
    }

    /// Every `NoteKind` defined here is listed in [`NOTES`], and no code outside this file
    /// writes a `HEADERS-` code of its own: so every note the analysis can build is in the list.
    #[test]
    fn every_note_kind_is_listed_and_no_code_bypasses_the_registry() {
        let this = include_str!("notes.rs");
        let defined: Vec<&str> = this
            .lines()
            .filter_map(|l| l.strip_prefix("pub static "))
            .filter_map(|l| l.strip_suffix(": NoteKind = NoteKind {"))
            .collect();
        assert_eq!(defined.len(), NOTES.len(), "{defined:?}");
        for name in defined {
            assert!(
                this.contains(&format!("    &{name},\n")),
                "{name} is not in NOTES"
            );
        }
        let quote = '"';
        let literal = format!("{quote}HEADERS-");
        for (file, source) in [
            ("mod.rs", include_str!("mod.rs")),
            ("mx.rs", include_str!("mx.rs")),
            ("auth_results.rs", include_str!("auth_results.rs")),
            ("input.rs", include_str!("input.rs")),
            ("received.rs", include_str!("received.rs")),
            ("recipient.rs", include_str!("recipient.rs")),
            ("timing.rs", include_str!("timing.rs")),
        ] {
            assert!(
                !source.contains(&literal),
                "{file} writes a HEADERS- code itself: use the NoteKind in notes.rs"
            );
        }
    }
}
