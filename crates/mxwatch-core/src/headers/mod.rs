//! Reading a received message's header section: the `Received` chain hop by hop,
//! the `Authentication-Results` as the receiving hosts recorded them, and which
//! hop is where the message entered the recipient domain's MX.
//!
//! Pure code like the rest of the core: the caller reads the bytes and resolves
//! the MX (through `mxwatch-probe`) and hands both in. mail-parser (Stalwart) is
//! pure too, so the parsing lives here, beside the model, where property tests can
//! reach it without a runtime.
//!
//! Flow: [`parse`] (bytes → [`ParsedHeaders`]), then [`mx::names_to_resolve`] tells
//! the caller which host names to look up, then [`analyse`] joins both into an
//! [`Analysis`].

pub mod auth_results;
pub mod input;
pub mod mx;
pub mod notes;
pub mod received;
pub mod recipient;
pub mod timing;

use serde::Serialize;

pub use auth_results::{AuthResults, AuthResultsKind, MethodResult, Property};
pub use input::{InputError, MAX_INPUT_BYTES};
pub use mx::{ExchangeAddresses, HostAddresses, MxEntry, MxResolution, MxStatus};
pub use notes::{NOTES, NoteKind};
pub use received::{Hop, HopFrom, HopTime, Parsed, Tls};

/// At most this many hops are kept; a longer chain keeps the hops nearest the
/// recipient (the top of the header), because those are the ones the recipient's
/// own hosts wrote: the bottom of a long chain is where a sender can put anything.
pub const MAX_HOPS: usize = 100;

/// Everything read from the header section, before any DNS.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ParsedHeaders {
    /// In transit order: the bottom `Received` (the first hop) first.
    pub hops: Vec<Hop>,
    /// How many `Received` headers there were (more than `hops.len()` when capped).
    pub received_total: usize,
    /// Every `Authentication-Results` and `ARC-Authentication-Results`, top (newest) first.
    pub auth_results: Vec<AuthResults>,
    /// The recipient addresses the header names, best source first.
    pub recipients: Vec<recipient::RecipientAddress>,
    /// How the input was read (mbox separator skipped, body dropped, …).
    pub input_notes: Vec<String>,
}

/// A remark on the message with a stable code (for scripts) and a sentence (for people).
/// Built from its [`NoteKind`] in [`notes`] ([`Note::new`]), which documents the code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Note {
    pub code: &'static str,
    pub level: NoteLevel,
    pub text: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteLevel {
    Info,
    Warning,
}

impl NoteLevel {
    /// As in the JSON output: `info`, `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            NoteLevel::Info => "info",
            NoteLevel::Warning => "warning",
        }
    }
}

/// The whole reading of one message.
#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    /// The recipient domain the MX were taken from, and where that came from.
    pub domain: Option<recipient::RecipientDomain>,
    pub hops: Vec<Hop>,
    pub received_total: usize,
    pub mx_entry: MxEntry,
    /// The domain's MX as resolved (absent when not resolved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mx: Option<MxResolution>,
    pub auth_results: Vec<AuthResults>,
    pub notes: Vec<Note>,
}

/// Reads the header section of a message (or a bare header block, or the first
/// message of an mbox). Never fails on malformed content: what cannot be read is
/// kept raw and marked; only oversized input is refused.
pub fn parse(bytes: &[u8]) -> Result<ParsedHeaders, InputError> {
    let prepared = input::prepare(bytes)?;
    let message = mail_parser::MessageParser::new().parse_headers(prepared.header_section);
    let Some(message) = message else {
        return Ok(ParsedHeaders {
            input_notes: prepared.notes,
            ..ParsedHeaders::default()
        });
    };
    let headers = message.headers();
    let raw = prepared.header_section;
    let mut hops = Vec::new();
    let mut auth_results = Vec::new();
    for (index, header) in headers.iter().enumerate() {
        match &header.name {
            mail_parser::HeaderName::Received => {
                hops.push(received::hop_from_header(index, header, raw));
            }
            mail_parser::HeaderName::AuthenticationResults => {
                let text = input::raw_value(raw, header);
                auth_results.push(auth_results::parse(
                    AuthResultsKind::AuthenticationResults,
                    index,
                    &text,
                ));
            }
            mail_parser::HeaderName::ArcAuthenticationResults => {
                let text = input::raw_value(raw, header);
                auth_results.push(auth_results::parse(
                    AuthResultsKind::ArcAuthenticationResults,
                    index,
                    &text,
                ));
            }
            _ => {}
        }
    }
    let received_total = hops.len();
    // Header order is newest first; transit order is the reverse.
    hops.reverse();
    if hops.len() > MAX_HOPS {
        hops.drain(..hops.len() - MAX_HOPS);
    }
    // Numbers count from the first hop of the whole chain, shown or not.
    let skipped = received_total - hops.len();
    for (i, hop) in hops.iter_mut().enumerate() {
        hop.number = skipped + i + 1;
    }
    timing::fill_delays(&mut hops);
    Ok(ParsedHeaders {
        hops,
        received_total,
        auth_results,
        recipients: recipient::addresses(headers),
        input_notes: prepared.notes,
    })
}

/// Joins what the header says with what DNS says. `domain` is the recipient
/// domain chosen by the caller (flag, or [`recipient::choose`]); `resolution`
/// is `None` when the caller did not resolve (`--no-resolve`).
pub fn analyse(
    parsed: ParsedHeaders,
    domain: Option<recipient::RecipientDomain>,
    resolution: Option<MxResolution>,
) -> Analysis {
    let mut hops = parsed.hops;
    let mx_entry = mx::find_entry(&mut hops, domain.as_ref(), resolution.as_ref());
    let mut auth_results = parsed.auth_results;
    mx::place_auth_results(&mut auth_results, &hops, &mx_entry);
    let mut notes: Vec<Note> = parsed
        .input_notes
        .iter()
        .map(|text| Note::new(&notes::INPUT, text.clone()))
        .collect();
    notes.extend(hop_notes(&hops, parsed.received_total));
    notes.extend(mx::entry_notes(&mx_entry, domain.as_ref()));
    notes.extend(mx::auth_results_notes(&auth_results));
    Analysis {
        domain,
        hops,
        received_total: parsed.received_total,
        mx_entry,
        mx: resolution,
        auth_results,
        notes,
    }
}

fn hop_notes(hops: &[Hop], received_total: usize) -> Vec<Note> {
    let mut notes = Vec::new();
    if received_total == 0 {
        notes.push(Note::new(
            &notes::NO_RECEIVED,
            "the header has no Received field: there is no trace to follow (is this the whole header section?)",
        ));
    }
    if received_total > hops.len() {
        notes.push(Note::new(
            &notes::HOPS_CAPPED,
            format!(
                "{received_total} Received fields: only the {} nearest the recipient are shown (the {} earliest are not)",
                hops.len(),
                received_total - hops.len()
            ),
        ));
    }
    for hop in hops {
        match &hop.parsed {
            Parsed::Unparsed { why } => notes.push(Note::new(
                &notes::UNPARSED_RECEIVED,
                format!(
                    "hop {}: Received field unparsed ({why}); shown raw",
                    hop.number
                ),
            )),
            Parsed::Partial { missing } => notes.push(Note::new(
                &notes::PARTIAL_RECEIVED,
                format!(
                    "hop {}: Received field without {}",
                    hop.number,
                    missing.join(", ")
                ),
            )),
            Parsed::Full => {}
        }
        if let Some(delay) = hop.delay_seconds
            && delay < 0
        {
            notes.push(Note::new(
                &notes::CLOCK_SKEW,
                format!(
                    "hop {}: stamped {} before the previous hop: the clocks of {} and the previous host disagree",
                    hop.number,
                    timing::human_duration(delay.unsigned_abs()),
                    hop.by.as_deref().unwrap_or("this host")
                ),
            ));
        }
    }
    notes
}

#[cfg(test)]
mod tests;
