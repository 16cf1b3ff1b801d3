//! The change-lifecycle rules the cycle applies (which look confirms which change, what
//! reverts what). Pure functions of change events.

use mxwatch_core::monitor::diff::{Change, ChangeKind};

pub fn is_finding(kind: ChangeKind) -> bool {
    matches!(
        kind,
        ChangeKind::FindingAppeared | ChangeKind::FindingCleared
    )
}

/// Two looks saw the same change.
pub fn same_change(a: &Change, b: &Change) -> bool {
    a.key() == b.key() && (is_finding(a.kind) || a.new == b.new)
}

/// `change` is already an open change (the reference could not move on last time).
pub fn already_recorded(open: &Change, change: &Change) -> bool {
    open.kind == change.kind
        && open.subject == change.subject
        && (is_finding(change.kind) || open.new == change.new)
}

fn inverse(kind: ChangeKind) -> Option<ChangeKind> {
    Some(match kind {
        ChangeKind::MxAdded => ChangeKind::MxRemoved,
        ChangeKind::MxRemoved => ChangeKind::MxAdded,
        ChangeKind::AddressAdded => ChangeKind::AddressRemoved,
        ChangeKind::AddressRemoved => ChangeKind::AddressAdded,
        ChangeKind::StarttlsLost => ChangeKind::StarttlsGained,
        ChangeKind::StarttlsGained => ChangeKind::StarttlsLost,
        ChangeKind::MxSetGone => ChangeKind::MxSetBack,
        ChangeKind::MxSetBack => ChangeKind::MxSetGone,
        ChangeKind::FindingAppeared => ChangeKind::FindingCleared,
        ChangeKind::FindingCleared => ChangeKind::FindingAppeared,
        _ => return None,
    })
}

/// `change` undoes the open change `original`: the inverse event, or the old value back.
pub fn reverts(original: &Change, change: &Change) -> bool {
    if original.subject != change.subject {
        return false;
    }
    // A finding that clears undoes its appearance whatever its detail said (timings, counts).
    if is_finding(change.kind) {
        return Some(original.kind) == inverse(change.kind);
    }
    match inverse(change.kind) {
        Some(kind) => {
            original.kind == kind && original.old == change.new && original.new == change.old
        }
        None => original.kind == change.kind && original.old == change.new,
    }
}
