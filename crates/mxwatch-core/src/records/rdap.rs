//! The RDAP domain object (RFC 9083 §5.3): what a registry or registrar says about one domain's
//! registration, reduced to what mxwatch judges: the expiration date (the `events` entry whose
//! `eventAction` is `expiration`, §4.5), the status values (§4.6, the RDAP JSON values registry
//! of RFC 8056 maps EPP's `clientTransferProhibited` to `client transfer prohibited`) and the
//! registrar's name (the `fn` of the entity with the `registrar` role, for people only).
//!
//! Strict where a wrong reading would become a finding: a body that is not an RDAP domain object
//! (no `objectClassName: "domain"`, a `status` that is not a list of strings, an answer about
//! another domain) is an error, i.e. "could not determine", never "no lock" or "no expiry".
//! serde_json reads the JSON; the walk over its value is ours because RDAP servers add fields
//! freely (RFC 9083 §2.1 requires clients to ignore unknown members) and we need only a handful.

use super::RecordError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The most a registration answer may weigh: a domain object with its entities is a few KiB;
/// 512 KiB leaves room for verbose registrars and bounds what a hostile server can make us hold.
pub const MAX_RDAP_BYTES: usize = 512 * 1024;

/// The media type of RFC 9083 §1 (servers also send `application/json`, which we accept).
pub const RDAP_MEDIA_TYPE: &str = "application/rdap+json";

/// What an RDAP domain object says about the registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationRecord {
    /// The `ldhName` as answered (lower-case), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldh_name: Option<String>,
    /// The `eventDate` of the `expiration` event, as given (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// The same date in Unix seconds; `None` when there is no expiration event or its date does
    /// not parse (then the expiry is not judged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_unix: Option<i64>,
    /// The status values as answered (`client transfer prohibited`, `active` …; compared through
    /// [`status_key`], so EPP's `clientTransferProhibited` is the same value).
    #[serde(default)]
    pub status: Vec<String>,
    /// The registrar's name, when the answer has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registrar: Option<String>,
}

/// A status value reduced to its letters: RDAP's `client transfer prohibited` and EPP's
/// `clientTransferProhibited` (which some servers send) compare equal.
pub fn status_key(status: &str) -> String {
    status
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Which registrar lock a status value is, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lock {
    /// The domain cannot be transferred to another registrar.
    Transfer,
    /// The domain's data (its nameservers above all) cannot be changed.
    Update,
}

/// The lock a status value sets: the registrar's (`client …`), the registry's (`server …`) or
/// the generic RDAP value (`transfer prohibited`, `update prohibited`).
pub fn lock_of(status: &str) -> Option<Lock> {
    match status_key(status).as_str() {
        "clienttransferprohibited" | "servertransferprohibited" | "transferprohibited" => {
            Some(Lock::Transfer)
        }
        "clientupdateprohibited" | "serverupdateprohibited" | "updateprohibited" => {
            Some(Lock::Update)
        }
        _ => None,
    }
}

/// The status values that mean the registration is ending: the domain has expired and will be
/// released to anyone (RFC 3915 §3.1; RDAP values `redemption period`, `pending delete`).
pub fn is_deletion_status(status: &str) -> bool {
    matches!(
        status_key(status).as_str(),
        "redemptionperiod" | "pendingdelete"
    )
}

impl RegistrationRecord {
    /// The locks the status values set, each once, in order.
    pub fn locks(&self) -> Vec<Lock> {
        let mut locks: Vec<Lock> = self.status.iter().filter_map(|s| lock_of(s)).collect();
        locks.sort();
        locks.dedup();
        locks
    }

    /// The status values that are locks, sorted: what `watch` compares over time.
    pub fn lock_statuses(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .status
            .iter()
            .filter(|s| lock_of(s).is_some())
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The status values that mean the registration is ending.
    pub fn deletion_statuses(&self) -> Vec<&str> {
        self.status
            .iter()
            .filter(|s| is_deletion_status(s))
            .map(String::as_str)
            .collect()
    }
}

/// Parses an RDAP answer for `domain` (lower-case A-label form, no trailing dot).
pub fn parse_domain(body: &[u8], domain: &str) -> Result<RegistrationRecord, RecordError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| RecordError::new(format!("not JSON: {e}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| RecordError::new("not a JSON object"))?;
    match object.get("objectClassName").and_then(Value::as_str) {
        Some(class) if class.eq_ignore_ascii_case("domain") => {}
        Some(class) => {
            return Err(RecordError::new(format!(
                "objectClassName is {class:?}, not \"domain\""
            )));
        }
        None => return Err(RecordError::new("no objectClassName: not an RDAP object")),
    }
    let ldh_name = match object.get("ldhName") {
        None => None,
        Some(Value::String(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name != domain {
                return Err(RecordError::new(format!(
                    "the answer is about {name:?}, not {domain:?}"
                )));
            }
            Some(name)
        }
        Some(_) => return Err(RecordError::new("ldhName is not a string")),
    };
    let status = match object.get("status") {
        None => vec![],
        Some(Value::Array(values)) => values
            .iter()
            .map(|v| {
                v.as_str()
                    .map(|s| s.trim().to_string())
                    .ok_or_else(|| RecordError::new("a status value is not a string"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(RecordError::new("status is not an array")),
    };
    let (expires, expires_unix) = expiration(object.get("events"))?;
    Ok(RegistrationRecord {
        ldh_name,
        expires,
        expires_unix,
        status,
        registrar: registrar(object.get("entities")),
    })
}

/// The `expiration` event's date, as given and in Unix seconds.
fn expiration(events: Option<&Value>) -> Result<(Option<String>, Option<i64>), RecordError> {
    let events = match events {
        None => return Ok((None, None)),
        Some(Value::Array(events)) => events,
        Some(_) => return Err(RecordError::new("events is not an array")),
    };
    for event in events {
        let action = event.get("eventAction").and_then(Value::as_str);
        if !action.is_some_and(|a| a.eq_ignore_ascii_case("expiration")) {
            continue;
        }
        let Some(date) = event.get("eventDate").and_then(Value::as_str) else {
            return Err(RecordError::new("the expiration event has no eventDate"));
        };
        let unix =
            time::OffsetDateTime::parse(date, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(|t| t.unix_timestamp());
        return Ok((Some(date.to_string()), unix));
    }
    Ok((None, None))
}

/// The `fn` of the first entity with the `registrar` role (jCard, RFC 7095).
fn registrar(entities: Option<&Value>) -> Option<String> {
    let entities = entities?.as_array()?;
    let registrar = entities.iter().find(|e| {
        e.get("roles")
            .and_then(Value::as_array)
            .is_some_and(|roles| roles.iter().any(|r| r.as_str() == Some("registrar")))
    })?;
    let properties = registrar
        .get("vcardArray")?
        .as_array()?
        .get(1)?
        .as_array()?;
    properties.iter().find_map(|p| {
        let p = p.as_array()?;
        (p.first()?.as_str()? == "fn")
            .then(|| p.get(3)?.as_str().map(str::to_string))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The domain object of RFC 9083 §5.3's example, trimmed of what we do not read, with an
    /// expiration event and a registrar entity added.
    const EXAMPLE: &str = r#"{
      "objectClassName" : "domain",
      "handle" : "XXXX",
      "ldhName" : "xn--fo-5ja.example",
      "unicodeName" : "fóo.example",
      "status" : [ "locked", "client transfer prohibited" ],
      "events" : [
        { "eventAction" : "registration", "eventDate" : "1990-12-31T23:59:59Z" },
        { "eventAction" : "last changed", "eventDate" : "1991-12-31T23:59:59Z" },
        { "eventAction" : "expiration", "eventDate" : "2027-01-15T08:00:00Z" }
      ],
      "entities" : [
        { "objectClassName" : "entity", "handle" : "292", "roles" : [ "registrar" ],
          "vcardArray" : [ "vcard", [ [ "version", {}, "text", "4.0" ],
                                      [ "fn", {}, "text", "Example Registrar, Inc." ] ] ] }
      ]
    }"#;

    #[test]
    fn reads_expiry_status_and_registrar() {
        let record = parse_domain(EXAMPLE.as_bytes(), "xn--fo-5ja.example").unwrap();
        assert_eq!(record.expires.as_deref(), Some("2027-01-15T08:00:00Z"));
        assert_eq!(record.expires_unix, Some(1_800_000_000));
        assert_eq!(record.status, ["locked", "client transfer prohibited"]);
        assert_eq!(record.locks(), [Lock::Transfer]);
        assert_eq!(record.lock_statuses(), ["client transfer prohibited"]);
        assert_eq!(record.registrar.as_deref(), Some("Example Registrar, Inc."));
        assert!(record.deletion_statuses().is_empty());
    }

    #[test]
    fn epp_spellings_count_as_the_rdap_values() {
        assert_eq!(lock_of("clientUpdateProhibited"), Some(Lock::Update));
        assert_eq!(lock_of("server transfer prohibited"), Some(Lock::Transfer));
        assert_eq!(lock_of("client delete prohibited"), None);
        assert!(is_deletion_status("redemptionPeriod"));
        assert!(is_deletion_status("pending delete"));
        assert!(!is_deletion_status("pending transfer"));
    }

    #[test]
    fn what_is_not_a_domain_object_is_an_error_never_an_empty_record() {
        for (body, why) in [
            ("<html>busy</html>", "not JSON"),
            ("[1, 2]", "not a JSON object"),
            ("{\"hello\": \"world\"}", "no objectClassName"),
            (
                "{\"objectClassName\": \"entity\", \"status\": []}",
                "not \"domain\"",
            ),
            (
                "{\"objectClassName\": \"domain\", \"status\": \"active\"}",
                "not an array",
            ),
            (
                "{\"objectClassName\": \"domain\", \"status\": [1]}",
                "not a string",
            ),
            (
                "{\"objectClassName\": \"domain\", \"ldhName\": \"other.example\"}",
                "is about",
            ),
            (
                "{\"errorCode\": 503, \"title\": \"Service Unavailable\"}",
                "no objectClassName",
            ),
        ] {
            let err = parse_domain(body.as_bytes(), "a.example").unwrap_err();
            assert!(err.reason.contains(why), "{body}: {}", err.reason);
        }
    }

    #[test]
    fn a_bad_date_leaves_the_expiry_unjudged_not_past() {
        let body = r#"{"objectClassName":"domain","ldhName":"A.Example.","status":["active"],
            "events":[{"eventAction":"expiration","eventDate":"next tuesday"}]}"#;
        let record = parse_domain(body.as_bytes(), "a.example").unwrap();
        assert_eq!(record.expires.as_deref(), Some("next tuesday"));
        assert_eq!(record.expires_unix, None);
        assert_eq!(record.ldh_name.as_deref(), Some("a.example"));
    }
}
