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

/// Zone files larger than this are refused: a zone repository's file is far smaller, and the
/// line location below costs a parse per line.
pub const MAX_ZONE_BYTES: usize = 4 * 1024 * 1024;
/// Records are located on their lines only in files of at most this many lines (beyond, SARIF
/// results point at the file without a line).
pub const MAX_LOCATED_LINES: usize = 5000;

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
    /// The 1-based line where the record starts (`None` past [`MAX_LOCATED_LINES`], or from an
    /// `$INCLUDE`d file).
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

/// The line each record starts on. hickory's parser reports no positions, so each prefix of the
/// file that ends at a line end is parsed in turn: the records a prefix adds start on the first
/// line with content after the previous prefix that parsed (a prefix that ends inside a
/// multi-line record does not parse and is skipped). Quadratic, hence [`MAX_LOCATED_LINES`].
fn locate(text: &str, path: &Path, origin: &Name) -> HashMap<String, usize> {
    let mut located = HashMap::new();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    if lines.len() > MAX_LOCATED_LINES {
        return located;
    }
    let (mut end, mut first_unclaimed) = (0usize, 0usize);
    for (index, line) in lines.iter().enumerate() {
        end += line.len();
        let Ok(records) = parse(&text[..end], path, origin) else {
            continue;
        };
        let start = (first_unclaimed..=index)
            .find(|&i| {
                let content = lines[i].trim();
                !content.is_empty() && !content.starts_with(';')
            })
            .unwrap_or(index);
        for (name, rtype, _, data) in records {
            located.entry(key(&name, rtype, &data)).or_insert(start + 1);
        }
        first_unclaimed = index + 1;
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
    /// (none when the zone has no such record, or past [`MAX_LOCATED_LINES`]). `None` when the
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
        let path = dir.join(format!("{:x}.zone", text.len()));
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
