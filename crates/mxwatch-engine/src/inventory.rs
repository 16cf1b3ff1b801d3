//! The inventory a watcher runs: the configuration's `[[domain]]`s and `[[maintenance]]`
//! windows, merged with the store-held inventory that `mxwatch serve` edits.
//!
//! The rule (docs/serve.md, "Inventory"): a domain's row in the store wins over the file.
//! - a row marked removed takes the domain off, even if the file lists it;
//! - a present row adds the domain if the file does not list it, and each field the row sets
//!   (`expect_mx`, `preset`, `tags`) replaces the file's (an `expect_mx` drops the file's
//!   `preset` and the other way round); fields it leaves unset keep the file's;
//! - maintenance windows are the file's plus the store's.
//!
//! Deleting a row (`forget`) gives the domain back to the file. The file is never rewritten:
//! it stays the operator's, under their version control.

use crate::config::{Config, DomainConfig, Maintenance};
use mxwatch_store::{InventoryEntry, StoredMaintenance};

/// The canonical (ASCII, lower-case, no trailing dot) spelling of a domain, for matching
/// the file's names with the store's.
pub fn canonical(name: &str) -> String {
    mxwatch_core::parse_domain_input(name)
        .map(|p| p.domain.ascii)
        .unwrap_or_else(|_| name.trim_end_matches('.').to_ascii_lowercase())
}

/// The merged domain list and windows. A store row that does not hold up (an expectation that
/// no longer parses) is skipped with a warning: the rest of the inventory keeps running.
pub fn merge(
    config: &Config,
    stored: &[InventoryEntry],
    windows: &[StoredMaintenance],
) -> (Vec<DomainConfig>, Vec<Maintenance>) {
    let mut domains = config.domains.clone();
    for row in stored {
        let key = canonical(&row.name);
        let position = domains.iter().position(|d| canonical(&d.name) == key);
        if !row.present {
            if let Some(i) = position {
                domains.remove(i);
            }
            continue;
        }
        let mut domain = match position {
            Some(i) => domains[i].clone(),
            None => DomainConfig {
                name: key.clone(),
                every: None,
                expect_mx: None,
                preset: None,
                tags: vec![],
                dkim_selectors: vec![],
            },
        };
        apply(&mut domain, row);
        if let Err(e) = config.expectation(&domain) {
            tracing::warn!(domain = %key, "the stored inventory's entry is skipped: {e}");
            continue;
        }
        match position {
            Some(i) => domains[i] = domain,
            None => domains.push(domain),
        }
    }
    let mut maintenance = config.maintenance.clone();
    maintenance.extend(windows.iter().map(|w| Maintenance {
        domains: w.domains.clone(),
        tags: w.tags.clone(),
        start: w.start,
        end: w.end,
        reason: w.reason.clone(),
    }));
    (domains, maintenance)
}

/// A store row's fields over a domain's.
pub fn apply(domain: &mut DomainConfig, row: &InventoryEntry) {
    if let Some(mx) = &row.expect_mx {
        domain.expect_mx = Some(mx.clone());
        domain.preset = None;
    }
    if let Some(preset) = &row.preset {
        domain.preset = Some(preset.clone());
        domain.expect_mx = None;
    }
    if let Some(tags) = &row.tags {
        domain.tags = tags.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::parse(
            "[[domain]]\nname = \"a.example\"\npreset = \"google-workspace\"\ntags = [\"prod\"]\n\
             [[domain]]\nname = \"b.example\"\n",
        )
        .unwrap()
    }

    fn row(name: &str, present: bool) -> InventoryEntry {
        InventoryEntry {
            name: name.into(),
            present,
            updated_by: "user:ann".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_store_adds_edits_and_removes_over_the_file() {
        let edited = InventoryEntry {
            expect_mx: Some(vec!["10 mx.a.example".into()]),
            ..row("A.example.", true)
        };
        let added = InventoryEntry {
            tags: Some(vec!["new".into()]),
            ..row("c.example", true)
        };
        let (domains, _) = merge(&config(), &[edited, row("b.example", false), added], &[]);
        let names: Vec<&str> = domains.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["a.example", "c.example"]);
        // expect_mx replaced the preset; the tags the row left unset are the file's.
        assert_eq!(
            domains[0].expect_mx.as_deref(),
            Some(&["10 mx.a.example".to_string()][..])
        );
        assert_eq!(domains[0].preset, None);
        assert_eq!(domains[0].tags, ["prod"]);
        assert_eq!(domains[1].tags, ["new"]);
    }

    #[test]
    fn a_bad_stored_entry_is_skipped_and_windows_add_up() {
        let bad = InventoryEntry {
            preset: Some("no-such-provider".into()),
            ..row("c.example", true)
        };
        let window = StoredMaintenance {
            id: 1,
            domains: vec!["b.example".into()],
            tags: vec![],
            start: 10,
            end: 20,
            reason: None,
            created_by: "user:ann".into(),
            created_at: 1,
        };
        let config = config();
        let (domains, windows) = merge(&config, &[bad], &[window]);
        assert_eq!(domains.len(), 2);
        assert_eq!(windows.len(), 1);
        let b = &domains[1];
        assert!(crate::config::maintenance_covering(&windows, b, 15).is_some());
        assert!(crate::config::maintenance_covering(&windows, &domains[0], 15).is_none());
    }
}
