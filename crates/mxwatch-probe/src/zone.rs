//! Proposed zones (`check --zone FILE`): master files read with hickory-proto's zone parser, and
//! the overlay that answers DNS questions for names inside them instead of the network.
//!
//! The overlay stands where an authoritative server for the zone would: a name inside a zone is
//! answered from the file (its records, a CNAME to follow, NODATA or NXDOMAIN with the SOA's
//! negative TTL); a name outside every zone, or below a delegation inside one, goes to the
//! network as usual (or, offline, is "could not determine": never absent).

use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::txt::Parser;
use mxwatch_core::{Absence, Failure, Lookup};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Zone files larger than this are refused: a zone repository's file is far smaller.
pub const MAX_ZONE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is larger than {MAX_ZONE_BYTES} bytes")]
    TooLarge { path: String },
    #[error("{path} is not a valid zone file: {reason}")]
    Parse { path: String, reason: String },
}

/// One record of a zone file.
#[derive(Clone, Debug)]
pub struct ZoneRecord {
    /// Lower-case ASCII, no trailing dot.
    pub name: String,
    pub rtype: RecordType,
    pub ttl: u32,
    pub data: RData,
    /// The 1-based line where the record starts (`None` for a record of an `$INCLUDE`d file).
    pub line: Option<usize>,
}

impl ZoneRecord {
    /// `name TTL TYPE data`, as a zone file writes it.
    pub fn presentation(&self) -> String {
        format!("{}. {} {} {}", self.name, self.ttl, self.rtype, self.data)
    }
}

/// A parsed zone file.
#[derive(Clone, Debug)]
pub struct ZoneFile {
    pub path: PathBuf,
    /// The zone's apex: the owner of its SOA, else its origin. Lower-case ASCII, no trailing dot.
    pub apex: String,
    pub records: Vec<ZoneRecord>,
}

fn key(name: &str, rtype: RecordType, data: &RData) -> String {
    format!("{name} {rtype} {data}")
}

fn ascii(name: &Name) -> String {
    name.to_ascii().trim_end_matches('.').to_ascii_lowercase()
}

fn parse(
    text: &str,
    path: &Path,
    origin: &Name,
) -> Result<Vec<(String, RecordType, u32, RData)>, String> {
    let (_, sets) = Parser::new(text, Some(path.to_path_buf()), Some(origin.clone()))
        .parse()
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for set in sets.values() {
        for record in set.records_without_rrsigs() {
            out.push((
                ascii(&record.name),
                record.record_type(),
                record.ttl,
                record.data.clone(),
            ));
        }
    }
    Ok(out)
}

/// Where each statement of a master file starts and ends: `(first line, text)`, the text with
/// its comments. A statement ends at a line end outside parentheses and quotes (RFC 1035 §5.1).
///
/// hickory's parser reports no positions, and SARIF needs the line of each record; so the file
/// is cut into statements here (only quotes, backslash escapes, `;` comments and parentheses
/// matter for that) and each statement is then parsed by hickory, in its context (origin,
/// owner), to learn which records it holds. The records themselves always come from hickory's
/// parse of the whole file.
fn statements(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let (mut current, mut start) = (String::new(), 0usize);
    let (mut depth, mut quoted, mut escaped, mut comment) = (0u32, false, false, false);
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if current.trim().is_empty() {
            current.clear();
            start = index;
        }
        for c in line.chars() {
            current.push(c);
            if comment {
                comment = c != '\n';
                continue;
            }
            if escaped {
                escaped = false;
                continue;
            }
            match c {
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                ';' if !quoted => comment = true,
                '(' if !quoted => depth += 1,
                ')' if !quoted => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        comment = false;
        if depth == 0 && !quoted && !current.trim().is_empty() {
            out.push((start, std::mem::take(&mut current)));
        }
    }
    if !current.trim().is_empty() {
        out.push((start, current));
    }
    out
}

/// The line (1-based) each record of the file starts on, by record key. Records of `$INCLUDE`d
/// files, and any statement hickory does not parse alone, get none.
fn locate(text: &str, path: &Path, origin: &Name) -> HashMap<String, usize> {
    let mut located = HashMap::new();
    let mut origin = origin.clone();
    let mut owner: Option<Name> = None;
    for (line, statement) in statements(text) {
        let content = statement.trim_start();
        // Comment-only statements hold no record.
        if content.starts_with(';') {
            continue;
        }
        if let Some(rest) = content.strip_prefix('$') {
            let mut words = rest.split_whitespace();
            if words
                .next()
                .is_some_and(|d| d.eq_ignore_ascii_case("ORIGIN"))
                && let Some(Ok(name)) = words.next().map(|n| Name::parse(n, Some(&origin)))
            {
                origin = name;
            }
            continue;
        }
        // A statement with a blank owner continues the previous owner's.
        let prefix = match (&owner, statement.starts_with([' ', '\t'])) {
            (Some(name), true) => name.to_ascii(),
            _ => String::new(),
        };
        // The TTL is not part of a record's key: any default does.
        let alone = format!(
            "$ORIGIN {}\n$TTL 0\n{prefix}{statement}\n",
            origin.to_ascii()
        );
        let Ok((_, sets)) = Parser::new(alone, Some(path.to_path_buf()), None).parse() else {
            continue;
        };
        for record in sets.values().flat_map(|set| set.records_without_rrsigs()) {
            owner = Some(record.name.clone());
            located
                .entry(key(
                    &ascii(&record.name),
                    record.record_type(),
                    &record.data,
                ))
                .or_insert(line + 1);
        }
    }
    located
}

impl ZoneFile {
    /// Reads and parses `path`; relative names are relative to `$ORIGIN`, else to `origin`.
    pub fn load(path: &Path, origin: &str) -> Result<ZoneFile, ZoneError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ZoneError::Read {
            path: shown.clone(),
            source,
        })?;
        if bytes.len() > MAX_ZONE_BYTES {
            return Err(ZoneError::TooLarge { path: shown });
        }
        let text = String::from_utf8_lossy(&bytes);
        let parse_error = |reason: String| ZoneError::Parse {
            path: shown.clone(),
            reason,
        };
        let origin = Name::from_ascii(format!("{}.", origin.trim_end_matches('.')))
            .map_err(|e| parse_error(format!("origin {origin:?}: {e}")))?;
        let parsed = parse(&text, path, &origin).map_err(parse_error)?;
        let lines = locate(&text, path, &origin);
        let apex = parsed
            .iter()
            .find(|(_, rtype, _, _)| *rtype == RecordType::SOA)
            .map(|(name, ..)| name.clone())
            .unwrap_or_else(|| ascii(&origin));
        let mut records: Vec<ZoneRecord> = parsed
            .into_iter()
            .map(|(name, rtype, ttl, data)| ZoneRecord {
                line: lines.get(&key(&name, rtype, &data)).copied(),
                name,
                rtype,
                ttl,
                data,
            })
            .collect();
        records.sort_by_key(|r| (r.line.unwrap_or(usize::MAX), r.name.clone()));
        Ok(ZoneFile {
            path: path.to_path_buf(),
            apex,
            records,
        })
    }

    /// `name` is at or below the apex.
    fn covers(&self, name: &str) -> bool {
        name == self.apex || name.ends_with(&format!(".{}", self.apex))
    }

    /// `name` is at or below a delegation (NS records below the apex): the child zone answers it.
    fn delegated(&self, name: &str) -> bool {
        self.records.iter().any(|r| {
            r.rtype == RecordType::NS
                && r.name != self.apex
                && (name == r.name || name.ends_with(&format!(".{}", r.name)))
        })
    }

    fn negative_ttl(&self) -> Option<u32> {
        self.records.iter().find_map(|r| match &r.data {
            RData::SOA(soa) => Some(soa.minimum.min(r.ttl)),
            _ => None,
        })
    }

    /// The answer an authority for this zone gives to `name rtype` (no wildcard expansion).
    fn answer(&self, name: &str, rtype: RecordType) -> Lookup<Vec<RData>> {
        let at: Vec<&ZoneRecord> = self.records.iter().filter(|r| r.name == name).collect();
        let observed = |records: Vec<&ZoneRecord>| Lookup::Observed {
            ttl: records.iter().map(|r| r.ttl).min().unwrap_or(0),
            value: records.iter().map(|r| r.data.clone()).collect(),
            cname_chain: vec![],
            elapsed_ms: 0,
        };
        let of_type: Vec<&ZoneRecord> = at.iter().copied().filter(|r| r.rtype == rtype).collect();
        if !of_type.is_empty() {
            return observed(of_type);
        }
        let cname: Vec<&ZoneRecord> = at
            .iter()
            .copied()
            .filter(|r| r.rtype == RecordType::CNAME)
            .collect();
        if !cname.is_empty() {
            // The lookup follows it, as a resolver would.
            return observed(cname);
        }
        let exists = !at.is_empty()
            || self
                .records
                .iter()
                .any(|r| r.name.ends_with(&format!(".{name}")));
        Lookup::Absent {
            absence: if exists {
                Absence::NoData
            } else {
                Absence::NxDomain
            },
            negative_ttl: self.negative_ttl(),
            cname_chain: vec![],
            elapsed_ms: 0,
        }
    }

    /// The lines of the records at `name` of type `rtype` (an owner's every record when `None`).
    pub fn lines(&self, name: &str, rtype: Option<RecordType>) -> Vec<usize> {
        let mut lines: Vec<usize> = self
            .records
            .iter()
            .filter(|r| r.name == name && rtype.is_none_or(|t| r.rtype == t))
            .filter_map(|r| r.line)
            .collect();
        lines.sort_unstable();
        lines.dedup();
        lines
    }
}

/// Which records at a name [`Overlay::locate`] looks for.
#[derive(Clone, Copy, Debug)]
pub enum Want<'a> {
    /// Every record at the name.
    All,
    /// The MX records naming this exchange.
    MxTo(&'a str),
    /// The TXT records starting with this tag (`v=spf1`), case-insensitive.
    Txt(&'a str),
    /// The TLSA records.
    Tlsa,
    /// The A and AAAA records.
    Address,
    /// The MX RRset.
    Mx,
}

impl Want<'_> {
    fn picks(self, record: &ZoneRecord) -> bool {
        match (self, &record.data) {
            (Want::All, _) => true,
            (Want::MxTo(exchange), RData::MX(mx)) => ascii(&mx.exchange) == exchange,
            (Want::Txt(tag), RData::TXT(txt)) => {
                let text: Vec<u8> = txt
                    .txt_data
                    .iter()
                    .flat_map(|p| p.iter().copied())
                    .collect();
                text.len() >= tag.len() && text[..tag.len()].eq_ignore_ascii_case(tag.as_bytes())
            }
            (Want::Tlsa, _) => record.rtype == RecordType::TLSA,
            (Want::Address, _) => matches!(record.rtype, RecordType::A | RecordType::AAAA),
            (Want::Mx, _) => record.rtype == RecordType::MX,
            _ => false,
        }
    }
}

/// The zones laid over the network's answers.
#[derive(Clone, Debug, Default)]
pub struct Overlay {
    pub zones: Vec<ZoneFile>,
    /// No network: a name outside every zone is "could not determine".
    pub offline: bool,
}

impl Overlay {
    /// The zone answering for `name`: the one with the longest apex that covers it, unless the
    /// name is delegated away from it.
    pub fn zone_for(&self, name: &str) -> Option<&ZoneFile> {
        self.zones
            .iter()
            .filter(|z| z.covers(name))
            .max_by_key(|z| z.apex.len())
            .filter(|z| !z.delegated(name))
    }

    /// The overlay's answer to `name rtype`; `None` means ask the network.
    pub fn answer(&self, name: &Name, rtype: RecordType) -> Option<Lookup<Vec<RData>>> {
        let name = ascii(name);
        match self.zone_for(&name) {
            Some(zone) => Some(zone.answer(&name, rtype)),
            None if self.offline => Some(Lookup::Failed {
                failure: Failure::Network,
                detail: "offline: outside the zone files, not asked".into(),
                cname_chain: vec![],
                elapsed_ms: 0,
            }),
            None => None,
        }
    }

    /// Where the records at `name` that `want` picks are written: the file, and their lines
    /// (none when the zone has no such record, or only in an `$INCLUDE`d file). `None` when the
    /// name is outside every zone.
    pub fn locate(&self, name: &str, want: Want<'_>) -> Option<(&Path, Vec<usize>)> {
        let zone = self.zone_for(name)?;
        let mut lines: Vec<usize> = zone
            .records
            .iter()
            .filter(|r| r.name == name && want.picks(r))
            .filter_map(|r| r.line)
            .collect();
        lines.sort_unstable();
        lines.dedup();
        Some((zone.path.as_path(), lines))
    }

    /// Every record of every zone, by zone path, for output.
    pub fn by_path(&self) -> BTreeMap<String, &[ZoneRecord]> {
        self.zones
            .iter()
            .map(|z| (z.path.display().to_string(), z.records.as_slice()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: &str = "\
$ORIGIN example.test.
$TTL 3600
; a comment line
@   IN SOA ns1 hostmaster (
        2026120201 ; serial
        3600 600 604800 300 )
    IN NS ns1
    IN MX 10 mx1
    IN MX 20 mx.other.test.

ns1 IN A 127.0.0.53
mx1 300 IN A 127.0.1.1
_25._tcp.mx1 IN TLSA 3 1 1 aabbccdd
alias IN CNAME mx1
child IN NS ns.child
";

    fn load(text: &str) -> ZoneFile {
        let dir = std::env::temp_dir().join(format!("mxwatch-zone-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // One file per call: tests run in parallel and must not rewrite each other's file.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("{n}.zone"));
        std::fs::write(&path, text).unwrap();
        ZoneFile::load(&path, "example.test").unwrap()
    }

    fn q(name: &str) -> Name {
        Name::from_ascii(name).unwrap()
    }

    #[test]
    fn records_carry_the_line_they_start_on() {
        let zone = load(ZONE);
        assert_eq!(zone.apex, "example.test");
        assert_eq!(zone.lines("example.test", Some(RecordType::SOA)), vec![4]);
        assert_eq!(zone.lines("example.test", Some(RecordType::NS)), vec![7]);
        assert_eq!(zone.lines("example.test", Some(RecordType::MX)), vec![8, 9]);
        assert_eq!(
            zone.lines("mx1.example.test", Some(RecordType::A)),
            vec![12]
        );
        assert_eq!(zone.lines("_25._tcp.mx1.example.test", None), vec![13]);
    }

    #[test]
    fn quotes_comments_parentheses_and_origins_do_not_mislead_the_lines() {
        let zone = load(
            "$ORIGIN example.test.\n\
             $TTL 300\n\
             @ IN SOA ns1 hostmaster 1 3600 600 604800 300\n\
             @ IN TXT \"v=spf1 ; not a comment ( nor a group\" \"a \\\" quote\" ; a comment (\n\
             \x20 IN TXT ( \"two\"\n\
             \x20   \"lines\" )\n\
             \x20 IN MX 10 mx1\n\
             $ORIGIN sub.example.test.\n\
             mx1 IN A 192.0.2.1\n",
        );
        assert_eq!(
            zone.lines("example.test", Some(RecordType::TXT)),
            vec![4, 5]
        );
        assert_eq!(zone.lines("example.test", Some(RecordType::MX)), vec![7]);
        assert_eq!(
            zone.lines("mx1.sub.example.test", Some(RecordType::A)),
            vec![9]
        );
        assert!(
            zone.records.iter().all(|r| r.line.is_some()),
            "{:?}",
            zone.records
        );
    }

    #[test]
    fn a_large_zone_is_located_to_its_last_line() {
        let mut text = String::from("$ORIGIN big.test.\n$TTL 60\n@ IN SOA ns1 h 1 1 1 1 1\n");
        for i in 0..20_000 {
            text.push_str(&format!("h{i} IN A 192.0.2.{}\n", i % 250 + 1));
        }
        let dir = std::env::temp_dir().join(format!("mxwatch-zone-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.test.zone");
        std::fs::write(&path, text).unwrap();
        let zone = ZoneFile::load(&path, "big.test").unwrap();
        assert_eq!(zone.lines("h19999.big.test", None), vec![20_003]);
        assert!(zone.records.iter().all(|r| r.line.is_some()));
    }

    #[test]
    fn the_overlay_answers_inside_the_zone_only() {
        let overlay = Overlay {
            zones: vec![load(ZONE)],
            offline: false,
        };
        let mx = overlay.answer(&q("example.test."), RecordType::MX).unwrap();
        assert_eq!(mx.value().unwrap().len(), 2);
        let a = overlay
            .answer(&q("mx1.example.test."), RecordType::A)
            .unwrap();
        assert_eq!(a.ttl(), Some(300));
        // NODATA at an existing name, NXDOMAIN below the apex, both with the SOA's negative TTL.
        let aaaa = overlay
            .answer(&q("mx1.example.test."), RecordType::AAAA)
            .unwrap();
        assert_eq!(aaaa.absence(), Some(Absence::NoData));
        let none = overlay
            .answer(&q("nope.example.test."), RecordType::A)
            .unwrap();
        assert!(none.is_nxdomain());
        assert!(matches!(
            none,
            Lookup::Absent {
                negative_ttl: Some(300),
                ..
            }
        ));
        // An empty non-terminal exists.
        let ent = overlay
            .answer(&q("_tcp.mx1.example.test."), RecordType::TXT)
            .unwrap();
        assert_eq!(ent.absence(), Some(Absence::NoData));
        // A CNAME is handed back for the lookup to follow.
        let alias = overlay
            .answer(&q("alias.example.test."), RecordType::A)
            .unwrap();
        assert!(matches!(alias.value().unwrap()[0], RData::CNAME(_)));
        // Outside the zone, and below a delegation: the network's.
        assert!(
            overlay
                .answer(&q("mx.other.test."), RecordType::A)
                .is_none()
        );
        assert!(
            overlay
                .answer(&q("www.child.example.test."), RecordType::A)
                .is_none()
        );
    }

    #[test]
    fn offline_outside_the_zone_is_could_not_determine() {
        let overlay = Overlay {
            zones: vec![load(ZONE)],
            offline: true,
        };
        let outside = overlay.answer(&q("mx.other.test."), RecordType::A).unwrap();
        assert!(outside.is_failed());
    }

    #[test]
    fn a_broken_zone_is_a_clear_error() {
        let dir = std::env::temp_dir();
        let path = dir.join(format!("mxwatch-bad-{}.zone", std::process::id()));
        std::fs::write(&path, "@ IN MX not-a-number mx1\n").unwrap();
        let error = ZoneFile::load(&path, "example.test")
            .unwrap_err()
            .to_string();
        assert!(error.contains("is not a valid zone file"), "{error}");
        let missing = ZoneFile::load(Path::new("/nonexistent/z.zone"), "example.test")
            .unwrap_err()
            .to_string();
        assert!(missing.contains("cannot read"), "{missing}");
    }
}
