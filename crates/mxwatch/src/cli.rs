//! Command-line flags.

use clap::{Args, Parser, Subcommand, ValueEnum};
use mxwatch_core::Severity;
use mxwatch_engine::AuditSettings;
use mxwatch_engine::settings::parse_timeout;
use mxwatch_store::StoreUrl;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "mxwatch", version, about = "Audit and watch the MX records of your domains", long_about = None)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug); MXWATCH_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Audit the mail routing of one or more domains.
    Check(CheckArgs),
    /// Audit a list of any length: results stream as each domain completes; resumable with --state.
    Scan(ScanArgs),
    /// Run the audit on a built-in lab of broken and healthy domains served on loopback (no network needed).
    Demo(DemoArgs),
    /// Explain a check (or a `headers` note): what it means, why it matters, how to fix it.
    Explain(ExplainArgs),
    /// Compare two saved audits (`check --format json|jsonl` output, or bare observations).
    Diff(DiffArgs),
    /// Watch an inventory over time: record every change, alert on the unexpected ones.
    Watch(WatchArgs),
    /// The recorded observations and changes of one domain.
    History(HistoryArgs),
    /// The changes recorded across the inventory.
    Changes(ChangesArgs),
    /// Mark a recorded change as expected (approved).
    Approve(ApproveArgs),
    /// Ask several resolvers for a domain's MX: who still serves the old set, and for how long.
    Propagation(PropagationArgs),
    /// Audit lines of scan jobs queued in a PostgreSQL database (`scan --enqueue`) and, with
    /// --config, the watch inventory's due domains, alongside any number of other workers; each
    /// result is written once and each alert sent once.
    Worker(WorkerArgs),
    /// The workers of a PostgreSQL database: heartbeat, throughput, leases held; and its scan jobs.
    Workers(WorkersArgs),
    /// Run the watcher and the dashboard/JSON API on one store (`serve --demo`: on the built-in lab).
    Serve(ServeArgs),
    /// Create, list or revoke API tokens for `serve`.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Add, list or remove dashboard users for `serve`.
    #[command(subcommand)]
    User(UserCommand),
    /// Read a received message's header: the Received chain hop by hop, the hop where it entered
    /// the recipient domain's MX, and its Authentication-Results as received.
    Headers(HeadersArgs),
}

#[derive(Debug, Args)]
pub struct HeadersArgs {
    /// The message (.eml, an mbox's first message, or a bare header block; CRLF or LF), `-` for stdin.
    /// At most 10 MiB; only the header section is read.
    #[arg(value_name = "FILE|-")]
    pub input: PathBuf,
    /// The recipient domain whose MX the hops are compared with
    /// (default: the domain of Delivered-To, else X-Original-To, else the first To address).
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// Ask no DNS: the hops are shown, the MX hop is "not checked".
    #[arg(long, conflicts_with_all = ["resolver", "demo_lab"])]
    pub no_resolve: bool,
    /// Recursive resolver to ask, IP[:PORT] (default: the first nameserver of /etc/resolv.conf).
    #[arg(long, value_name = "IP[:PORT]")]
    pub resolver: Option<String>,
    /// Resolve through the built-in lab's resolver on loopback (as `mxwatch demo`), to try the
    /// command on the sample messages with no network. (Not `--lab`: for `check`, that flag means
    /// "treat loopback as routable".)
    #[arg(long, conflicts_with = "resolver")]
    pub demo_lab: bool,
    /// Time limit for one DNS question, in seconds.
    #[arg(long, default_value = "3", value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,
    #[arg(long, value_enum, default_value_t = RecordFormat::Table)]
    pub format: RecordFormat,
    /// Also print each Received field as written, under the table.
    #[arg(long)]
    pub raw: bool,
}

#[derive(Debug, Args)]
pub struct PropagationArgs {
    pub domain: String,
    /// A resolver to ask, IP[:PORT]; give several.
    #[arg(long = "resolver", value_name = "IP[:PORT]", required = true)]
    pub resolvers: Vec<String>,
    /// Time limit for one DNS question, in seconds.
    #[arg(long, default_value = "3", value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,
    #[arg(long, value_enum, default_value_t = RecordFormat::Table)]
    pub format: RecordFormat,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Domains to watch (quick start; or use --config).
    #[arg(value_name = "DOMAIN", conflicts_with = "config")]
    pub domains: Vec<String>,

    /// The TOML configuration (inventory, schedules, expected MX, maintenance windows, alert sinks).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The store: a file path, `sqlite://PATH` or `postgres://user@host/db` (overrides the configuration's `db`). Default: mxwatch.db.
    #[arg(long, value_name = "URL|FILE")]
    pub db: Option<StoreUrl>,

    /// Check every domain once, deliver the alerts, and exit (for cron).
    #[arg(long)]
    pub once: bool,

    /// Quick start: how often to check.
    #[arg(
        long,
        conflicts_with = "config",
        default_value = "10m",
        value_name = "DURATION",
        value_parser = mxwatch_engine::settings::parse_duration
    )]
    pub every: std::time::Duration,

    /// Quick start: delay before the confirming second look.
    #[arg(
        long,
        conflicts_with = "config",
        default_value = "30s",
        value_name = "DURATION",
        value_parser = mxwatch_engine::settings::parse_duration
    )]
    pub confirm_after: std::time::Duration,

    /// Quick start: send alerts to this webhook (generic JSON).
    #[arg(long, conflicts_with = "config", value_name = "URL")]
    pub webhook: Option<String>,

    /// Quick start: HMAC secret for the webhook signature.
    #[arg(long, value_name = "SECRET", env = "MXWATCH_WEBHOOK_SECRET")]
    pub webhook_secret: Option<String>,

    /// Quick start: append alerts as JSON lines to this file (`-` for stdout).
    #[arg(long, conflicts_with = "config", value_name = "FILE")]
    pub jsonl: Option<PathBuf>,

    /// Quick start: recursive resolver, IP[:PORT].
    #[arg(long, value_name = "IP[:PORT]", conflicts_with = "config")]
    pub resolver: Option<String>,

    /// Quick start: treat 127.0.0.0/8 and ::1 as routable.
    #[arg(long, conflicts_with = "config")]
    pub lab: bool,

    /// Quick start: how each domain is audited (the same flags as `check`; with --config,
    /// set them in `[defaults]` instead).
    #[command(flatten)]
    pub settings: AuditSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RecordFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    pub domain: String,
    /// The store: a file path, `sqlite://PATH` or `postgres://user@host/db`.
    #[arg(long, default_value = "mxwatch.db", value_name = "URL|FILE")]
    pub db: StoreUrl,
    /// Observations shown, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
    #[arg(long, value_enum, default_value_t = RecordFormat::Table)]
    pub format: RecordFormat,
}

#[derive(Debug, Args)]
pub struct ChangesArgs {
    /// How far back, e.g. `7d`, `12h`.
    #[arg(long, default_value = "7d", value_name = "DURATION", value_parser = mxwatch_engine::settings::parse_duration)]
    pub since: std::time::Duration,
    /// Only this domain.
    #[arg(long)]
    pub domain: Option<String>,
    /// The store: a file path, `sqlite://PATH` or `postgres://user@host/db`.
    #[arg(long, default_value = "mxwatch.db", value_name = "URL|FILE")]
    pub db: StoreUrl,
    #[arg(long, value_enum, default_value_t = RecordFormat::Table)]
    pub format: RecordFormat,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The watch configuration (inventory, schedules, alert sinks); its `db` is the store.
    #[arg(
        long,
        short = 'c',
        value_name = "FILE",
        required_unless_present = "demo",
        conflicts_with = "demo"
    )]
    pub config: Option<PathBuf>,
    /// Serve the built-in lab of broken and healthy domains on loopback (no network): a demo
    /// admin user is created and its password printed.
    #[arg(long)]
    pub demo: bool,
    /// Where to listen. A non-loopback address is refused until a user or token exists.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "IP:PORT")]
    pub listen: std::net::SocketAddr,
    /// The store (overrides the configuration's `db`; with --demo, default: a fresh file in the
    /// temporary directory).
    #[arg(long, value_name = "URL|FILE")]
    pub db: Option<StoreUrl>,
    /// Serve the dashboard and the API only, without running the inventory here: for a
    /// PostgreSQL database whose inventory `mxwatch worker --config` processes run (or a store
    /// a separate `mxwatch watch` runs). The watcher lock is not taken.
    #[arg(long, conflicts_with = "demo")]
    pub no_watch: bool,
}

/// Where a token or user command finds the store.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The store: a file path, `sqlite://PATH` or `postgres://user@host/db`.
    #[arg(long, value_name = "URL|FILE", conflicts_with = "config")]
    pub db: Option<StoreUrl>,
    /// Or the watch configuration whose `db` it is.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once and only its hash is stored.
    Create {
        /// viewer (reads), operator (also checks, approves, acknowledges), admin (also edits the inventory, users, tokens).
        #[arg(long, value_parser = parse_role)]
        role: mxwatch_store::Role,
        /// What it is for (shown in the audit log).
        #[arg(long, default_value = "cli")]
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a token by its ID.
    Revoke {
        id: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a dashboard user; the password (12 characters or more) is read from $MXWATCH_PASSWORD
    /// or the first line of standard input.
    Add {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: mxwatch_store::Role,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List users.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove a user (and end their sessions).
    Remove {
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn parse_role(text: &str) -> Result<mxwatch_store::Role, String> {
    text.parse()
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The change ID (from `mxwatch changes`).
    pub id: i64,
    /// Who approves it. Default: $USER.
    #[arg(long)]
    pub by: Option<String>,
    /// The store: a file path, `sqlite://PATH` or `postgres://user@host/db`.
    #[arg(long, default_value = "mxwatch.db", value_name = "URL|FILE")]
    pub db: StoreUrl,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier audit.
    pub old: PathBuf,
    /// The later audit.
    pub new: PathBuf,

    /// `table` (one line per change) or `json`.
    #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
    pub format: DiffFormat,

    /// Judge bare observations as of this RFC 3339 time (e.g. 2026-11-23T00:00:00Z) instead of
    /// now, to reproduce an old verdict: certificate expiry depends on the date. Saved reports
    /// keep the findings they were written with.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable tables (colour when the terminal supports it and NO_COLOR is unset).
    Table,
    /// One JSON array of reports.
    Json,
    /// One JSON report per line, as each domain completes.
    Jsonl,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
}

/// How `check` and `demo` run and report; the audit itself is [`AuditSettings`] (shared with
/// the watch configuration's `[defaults]`).
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Exit 1 when a finding of this severity or worse is reported (info, low, medium, high, critical).
    #[arg(long, default_value = "high", value_parser = parse_severity)]
    pub fail_on: Severity,

    /// Domains audited at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub concurrency: u16,

    #[command(flatten)]
    pub settings: AuditSettings,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Domains to audit. A pasted URL or e-mail address is accepted (its domain is used).
    #[arg(value_name = "DOMAIN")]
    pub domains: Vec<String>,

    /// Read more domains from a file, one per line (`-` for stdin; `#` starts a comment).
    #[arg(long, short = 'i', value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Recursive resolver to ask, IP[:PORT] (default: the first nameserver of /etc/resolv.conf).
    #[arg(long, value_name = "IP[:PORT]")]
    pub resolver: Option<String>,

    /// Treat 127.0.0.0/8 and ::1 as routable, so a loopback lab looks like the internet.
    #[arg(long)]
    pub lab: bool,

    /// Pre-flight: audit the domain as if this zone file (master-file format, as BIND, Knot and NSD
    /// read it) were published, and say what the change would do compared with what is live.
    /// Repeatable (one file per zone). Names inside a zone are answered from its file; the rest is
    /// collected live. One domain only.
    #[arg(long = "zone", value_name = "FILE")]
    pub zones: Vec<PathBuf>,

    /// With --zone: send nothing at all; judge the zone files alone and list what could not be judged
    /// (names outside the zones, SMTP, HTTPS, DNSSEC). No comparison with the live zone.
    #[arg(long, requires = "zones")]
    pub offline: bool,

    #[command(flatten)]
    pub audit: AuditArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// One line per domain for a person: status, worst severity, finding IDs (default on a terminal).
    Lines,
    /// One JSON object per line: each report (with its input `line`), each malformed or duplicate line
    /// (default when the output is not a terminal).
    Jsonl,
    /// One row per domain: line, domain, status, worst severity, finding IDs, MX set, provider, error.
    Csv,
    /// One JSON array of reports (no --state or --output: an array cannot be resumed).
    Json,
    /// SARIF 2.1.0 (no --state or --output).
    Sarif,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The list: one domain a line (`#` comments and blank lines skipped; URLs and e-mail addresses
    /// reduced to their domain; duplicates audited once; malformed lines reported and skipped). `-` or
    /// nothing: standard input.
    #[arg(value_name = "FILE|-")]
    pub input: Option<PathBuf>,

    /// Recursive resolver to ask, IP[:PORT]; give several to spread the load (a timeout, SERVFAIL or
    /// REFUSED from one is asked of the next). Default: the first nameserver of /etc/resolv.conf.
    #[arg(long = "resolver", value_name = "IP[:PORT]")]
    pub resolvers: Vec<String>,

    /// Treat 127.0.0.0/8 and ::1 as routable, so a loopback lab looks like the internet.
    #[arg(long)]
    pub lab: bool,

    /// Output format (default: `jsonl` when the output is a file or a pipe, `lines` on a terminal).
    #[arg(long, value_enum)]
    pub format: Option<ScanFormat>,

    /// Write the results to this file instead of standard output, one record at a time; with --state,
    /// a resumed scan neither repeats nor loses a record.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// With --format csv: also write one row per finding to this file (line, domain, id, severity,
    /// subject, detail).
    #[arg(long, value_name = "FILE")]
    pub csv_findings: Option<PathBuf>,

    /// Keep the scan's progress in this SQLite file: started again with the same state (and the same
    /// input), a scan killed at any moment skips what is done.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["enqueue", "job"])]
    pub state: Option<PathBuf>,

    /// The PostgreSQL database of the shared work queue (`postgres://user@host/db`), for --enqueue
    /// and --job.
    #[arg(long, value_name = "URL")]
    pub db: Option<StoreUrl>,

    /// Queue the list as a job for `mxwatch worker`s (named NAME, default the file's name) and print
    /// its ID instead of auditing here. Needs --db.
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "", requires = "db")]
    pub enqueue: Option<String>,

    /// Stream the results of a queued job (from any machine, while workers still work or after),
    /// in the chosen format; ends when every line has its result. Needs --db.
    #[arg(long, value_name = "ID", requires = "db", conflicts_with_all = ["enqueue", "input"])]
    pub job: Option<i64>,

    /// Exit 1 when a finding of this severity or worse is reported for any domain.
    #[arg(long, default_value = "high", value_parser = parse_severity)]
    pub fail_on: Severity,

    /// Domains audited at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub concurrency: u16,

    /// How many shared MX hosts and finding IDs the closing summary lists (0: no summary).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub top: usize,

    #[command(flatten)]
    pub settings: AuditSettings,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The PostgreSQL database holding the queue (`postgres://user@host/db`).
    #[arg(long, value_name = "URL")]
    pub db: StoreUrl,

    /// Recursive resolver to ask, IP[:PORT]; give several to spread the load. Default: the first
    /// nameserver of /etc/resolv.conf.
    #[arg(long = "resolver", value_name = "IP[:PORT]")]
    pub resolvers: Vec<String>,

    /// Treat 127.0.0.0/8 and ::1 as routable, so a loopback lab looks like the internet.
    #[arg(long)]
    pub lab: bool,

    /// Domains this worker audits at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub concurrency: u16,

    /// How long a line (or, with --config, a due domain or a claimed alert) stays leased without
    /// a heartbeat (the heartbeat renews it every third of that): after a worker dies, what it
    /// held goes to another worker this long later.
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = parse_lease)]
    pub lease: std::time::Duration,

    /// Exit when no queued job has a line left, instead of waiting for more work.
    #[arg(long, conflicts_with = "config")]
    pub exit_when_idle: bool,

    /// Also run the watch inventory this configuration file describes (its [[domain]]s, with the
    /// domains added in `serve`; its [defaults] and [[alert]] sinks), sharing it with the other
    /// workers given the same file: each due domain is taken with a lease (--lease) and each
    /// alert is sent once. Its `db` is not used: --db names the database. Refused while a
    /// `mxwatch watch` or `serve` runs on the database.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Hold SMTP connections to each MX address to this worker's own limits only. By default
    /// `--smtp-per-address` and `--smtp-per-minute` also hold for all the workers of the
    /// database together (counted in the database), so N workers do not hammer one provider.
    #[arg(long)]
    pub no_shared_smtp_budget: bool,

    #[command(flatten)]
    pub settings: AuditSettings,
}

#[derive(Debug, Args)]
pub struct WorkersArgs {
    /// The PostgreSQL database holding the queue (`postgres://user@host/db`).
    #[arg(long, value_name = "URL")]
    pub db: StoreUrl,
    #[arg(long, value_enum, default_value_t = RecordFormat::Table)]
    pub format: RecordFormat,
}

fn parse_lease(s: &str) -> Result<std::time::Duration, String> {
    let lease = mxwatch_engine::settings::parse_duration(s)?;
    if lease < std::time::Duration::from_secs(1) {
        return Err("a lease shorter than a second cannot be renewed in time".into());
    }
    Ok(lease)
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub audit: AuditArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The check ID (e.g. MX-TARGET-UNREGISTERED), or the code of a `headers` note (e.g. HEADERS-MX-BYPASS).
    #[arg(
        value_name = "ID",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub id: Option<String>,

    /// Every check in the catalogue, then every `headers` note.
    #[arg(long)]
    pub all: bool,

    #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
    pub format: ExplainFormat,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse()
}
