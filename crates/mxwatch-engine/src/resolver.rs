//! Which recursive resolver to ask.

use crate::error::EngineError;
use std::net::{IpAddr, SocketAddr};

/// Parses `IP`, `IP:PORT`, `[IPv6]:PORT` (port 53 when absent).
pub fn parse_resolver(text: &str) -> Result<SocketAddr, EngineError> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(EngineError::Settings(format!(
        "--resolver {text:?} is not IP[:PORT] (e.g. 127.0.0.1, 127.0.0.1:5353, [::1]:53); host names are not accepted"
    )))
}
/// The first `nameserver` of resolv.conf-formatted text.
pub fn first_nameserver(resolv_conf: &str) -> Option<SocketAddr> {
    resolv_conf.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some("nameserver"))
            .then(|| words.next())
            .flatten()
            .and_then(|ip| ip.split('%').next()?.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// The resolver named on the command line, or the system's.
pub fn choose(flag: Option<&str>) -> Result<SocketAddr, EngineError> {
    if let Some(text) = flag {
        return parse_resolver(text);
    }
    let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    first_nameserver(&conf).ok_or_else(|| {
        EngineError::Settings(
            "no resolver given and none found in /etc/resolv.conf: pass --resolver IP[:PORT]"
                .into(),
        )
    })
}

/// Where a bulk audit's questions go (`scan`, `worker`): every `--resolver` given, in turn, or
/// the system's when none is.
pub fn target(flags: &[String], lab: bool) -> Result<crate::audit::Target, EngineError> {
    let mut resolvers = flags
        .iter()
        .map(|r| parse_resolver(r))
        .collect::<Result<Vec<_>, _>>()?;
    if resolvers.is_empty() {
        resolvers.push(choose(None)?);
    }
    Ok(crate::audit::Target {
        more_resolvers: resolvers.split_off(1),
        ..crate::audit::Target::new(resolvers[0], lab)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolver_forms() {
        assert_eq!(
            parse_resolver("127.0.0.1").unwrap(),
            "127.0.0.1:53".parse().unwrap()
        );
        assert_eq!(
            parse_resolver("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(parse_resolver("::1").unwrap(), "[::1]:53".parse().unwrap());
        assert_eq!(
            parse_resolver("[::1]:5300").unwrap(),
            "[::1]:5300".parse().unwrap()
        );
        assert!(parse_resolver("dns.example").is_err());
    }

    #[test]
    fn resolv_conf() {
        let conf = "# comment\nsearch lan\nnameserver fe80::1%eth0\nnameserver 10.0.0.1\n";
        assert_eq!(
            first_nameserver(conf),
            Some("[fe80::1]:53".parse().unwrap())
        );
        assert_eq!(first_nameserver("options ndots:2\n"), None);
    }
}
