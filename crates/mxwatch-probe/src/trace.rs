//! What `mxwatch headers` needs from DNS to place a message's hops: the recipient domain's
//! MX, the exchanges' addresses, and the addresses of the trace's own host names (only those
//! under the domain's or an MX host's own domain; `names_to_resolve` chooses them).

use crate::dns::Dns;
use futures_util::future::join_all;
use mxwatch_core::headers::mx::{exchanges_to_resolve, names_to_resolve};
use mxwatch_core::headers::{ExchangeAddresses, Hop, HostAddresses, MxResolution};

/// Resolves what the headers analysis compares the hops with.
pub async fn resolve_mx_hops(dns: &Dns, domain: &str, hops: &[Hop]) -> MxResolution {
    let mx = dns.mx(domain).await;
    let wanted = exchanges_to_resolve(domain, &mx);
    let exchanges = join_all(
        wanted
            .iter()
            .map(|(name, preference, implicit)| async move {
                let (a, aaaa) =
                    futures_util::join!(dns.addresses(name, false), dns.addresses(name, true));
                ExchangeAddresses {
                    exchange: name.clone(),
                    preference: *preference,
                    implicit: *implicit,
                    a,
                    aaaa,
                }
            }),
    )
    .await;
    let names = names_to_resolve(hops, domain, &wanted);
    let hosts = join_all(names.into_iter().map(|name| async move {
        let (a, aaaa) =
            futures_util::join!(dns.addresses(&name, false), dns.addresses(&name, true));
        HostAddresses { name, a, aaaa }
    }))
    .await;
    MxResolution {
        domain: domain.to_string(),
        mx,
        exchanges,
        hosts,
    }
}
