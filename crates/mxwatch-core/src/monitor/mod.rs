//! What a monitor does with looks over time, with no I/O: the typed changes between two
//! observations ([`diff`]), the baseline a new look is compared with, part by part ([`baseline`]),
//! and the rules of a change's life: the same change seen twice, already recorded, or undone
//! ([`lifecycle`]). The watch loop, its store and its alerts live outside the core.

pub mod baseline;
pub mod diff;
pub mod lifecycle;
