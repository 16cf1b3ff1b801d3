//! Bulk DNS collection benchmark: N domains spread over P mail providers, served
//! by the in-process lab resolver on 127.0.0.1; then the same lookups by a named
//! peer (bench/peer_dnspython.py, dnspython's asyncio resolver) against the same
//! server in the same run. Used by bench/run.sh; numbers go to docs/performance.md.
//!
//!     cargo run --release -p mxwatch-probe --example bulk -- 20000 100 256

use mxwatch_core::parse_domain_input;
use mxwatch_lab::{Behaviour, LabDns, LabZones};
use mxwatch_probe::{Collector, CollectorOptions, Dns, DnsOptions};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

const SOA: &str =
    "@ SOA ns1.lab.test. hostmaster.lab.test. 1 3600 600 604800 300\n@ NS ns1.lab.test.\n";

fn zones(domains: usize, providers: usize) -> LabZones {
    let mut bench = String::from("$ORIGIN bench.test.\n$TTL 3600\n");
    bench.push_str(SOA);
    for i in 0..domains {
        let p = i % providers;
        writeln!(
            bench,
            "d{i} MX 10 mx1.p{p}.test.\nd{i} MX 20 mx2.p{p}.test.\nd{i} TXT \"v=spf1 mx -all\""
        )
        .unwrap();
    }
    let mut files = vec![("bench.test.zone".to_string(), bench)];
    let mut reverse = String::from("$ORIGIN 127.in-addr.arpa.\n$TTL 3600\n");
    reverse.push_str(SOA);
    for p in 0..providers {
        let (hi, lo) = (p / 250 + 2, p % 250 + 1);
        let mut zone = format!("$ORIGIN p{p}.test.\n$TTL 3600\n{SOA}");
        writeln!(zone, "mx1 A 127.{hi}.{lo}.1\nmx2 A 127.{hi}.{lo}.2").unwrap();
        writeln!(
            reverse,
            "1.{lo}.{hi} PTR mx1.p{p}.test.\n2.{lo}.{hi} PTR mx2.p{p}.test."
        )
        .unwrap();
        files.push((format!("p{p}.test.zone"), zone));
    }
    files.push(("127.in-addr.arpa.zone".to_string(), reverse));
    let root =
        "$TTL 3600\n. SOA ns1.lab.test. h.lab.test. 1 1 1 1 300\n. NS ns1.lab.test.\n".to_string();
    files.push(("root.zone".to_string(), root));
    LabZones::from_files(files.iter().map(|(f, t)| (f.as_str(), t.as_str())))
        .expect("bench zones parse")
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (domains, providers, concurrency) = (
        args.first().copied().unwrap_or(20_000),
        args.get(1).copied().unwrap_or(100),
        args.get(2).copied().unwrap_or(256),
    );
    let lab = LabDns::start(
        zones(domains, providers),
        Behaviour::Resolver,
        "127.0.0.1".parse().unwrap(),
    )
    .await
    .expect("lab resolver");
    let mut options = DnsOptions::new(lab.addr);
    options.max_in_flight = concurrency;
    let dns = Arc::new(Dns::new(options));
    let collector = Collector::new(
        dns.clone(),
        CollectorOptions {
            lab: true,
            smtp: None,
            nameservers: None,
            mail_auth: Default::default(),
            dnssec: None,
            mta_sts: None,
            rdap: None,
        },
    );
    let names: Vec<_> = (0..domains)
        .map(|i| {
            parse_domain_input(&format!("d{i}.bench.test"))
                .unwrap()
                .domain
        })
        .collect();
    let started = Instant::now();
    use futures_util::StreamExt;
    let mut failed = 0usize;
    let mut stream = futures_util::stream::iter(names.iter())
        .map(|d| collector.observe(d))
        .buffer_unordered(concurrency);
    while let Some(obs) = stream.next().await {
        if obs.mx.value().is_none() || obs.exchanges.iter().any(|e| e.lookups.any_failed()) {
            failed += 1;
        }
    }
    let took = started.elapsed().as_secs_f64();
    let queries = lab.log.total();
    println!(
        "mxwatch   domains={domains} providers={providers} concurrency={concurrency} seconds={took:.2} \
         domains_per_s={:.0} queries={queries} queries_per_s={:.0} incomplete={failed} peak_rss_kib={}",
        domains as f64 / took,
        queries as f64 / took,
        peak_rss_kib()
    );
    // The named peer, against the same server, now.
    let peer = std::process::Command::new(
        std::env::var("PEER_PYTHON").unwrap_or_else(|_| "python3".into()),
    )
    .arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../bench/peer_dnspython.py"
    ))
    .args([lab.addr.ip().to_string(), lab.addr.port().to_string()])
    .args([domains.to_string(), concurrency.to_string()])
    .output();
    let before = queries;
    match peer {
        Ok(out) if out.status.success() => {
            let line = String::from_utf8_lossy(&out.stdout);
            println!(
                "{} server_queries={}",
                line.trim(),
                lab.log.total() - before
            );
        }
        Ok(out) => println!("peer failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => println!("peer not run: {e}"),
    }
}
