//! DNS through a recursive resolver: a UDP/TCP transport on hickory-proto's
//! wire format, a TTL cache shared by every domain of a run, and typed lookups.

mod cache;
pub mod dnssec;
mod lookups;
mod rtt;
mod transport;
mod udp;

pub use cache::DEFAULT_CAPACITY as DEFAULT_CACHE_ENTRIES;
pub use lookups::Dns;
pub use transport::{DnsOptions, Reply, Transport};
