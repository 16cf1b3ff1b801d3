//! `mxwatch serve`, `token` and `user` end to end: the binary's own rules (no network needed:
//! the configuration names a resolver on 127.0.0.1 where nothing is asked before the refusal,
//! and the server that does start listens on 127.0.0.1 only).

use crate::common::{code, run, stderr, stdout};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mxwatch-e2e-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(dir: &std::path::Path) -> String {
    let path = dir.join("mxwatch.toml");
    std::fs::write(
        &path,
        format!(
            "db = {:?}\n[defaults]\nevery = \"1h\"\nresolver = \"127.0.0.1:9\"\nlab = true\nprobe = false\n\
             compare_nameservers = false\ndnssec = false\n[[domain]]\nname = \"a.test\"\n",
            dir.join("mx.db").display().to_string()
        ),
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn a_public_address_is_refused_until_someone_can_log_in_and_tokens_are_shown_once() {
    let dir = scratch("bind");
    let cfg = config(&dir);
    let refused = run(&["serve", "--config", &cfg, "--listen", "0.0.0.0:0"]);
    assert_eq!(code(&refused), 2, "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("no user or token"),
        "{}",
        stderr(&refused)
    );

    let created = run(&[
        "token", "create", "--role", "viewer", "--name", "ci", "--config", &cfg,
    ]);
    assert_eq!(code(&created), 0, "{}", stderr(&created));
    let token = stdout(&created).trim().to_string();
    assert!(token.starts_with("mxw_") && token.len() == 68, "{token}");
    let listed = run(&["token", "list", "--config", &cfg]);
    assert!(
        stdout(&listed).contains("viewer\tci"),
        "{}",
        stdout(&listed)
    );
    assert!(
        !stdout(&listed).contains(&token),
        "the secret is never shown again"
    );
    let bad_role = run(&["token", "create", "--role", "root", "--config", &cfg]);
    assert_eq!(code(&bad_role), 2);

    let short = Command::new(crate::common::BIN)
        .args(["user", "add", "alice", "--role", "admin", "--config", &cfg])
        .env("MXWATCH_PASSWORD", "short")
        .output()
        .unwrap();
    assert_eq!(code(&short), 2, "{}", stderr(&short));
    assert!(stderr(&short).contains("12 characters"));
    let mut add = Command::new(crate::common::BIN)
        .args(["user", "add", "alice", "--role", "admin", "--config", &cfg])
        .env_remove("MXWATCH_PASSWORD")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"a long enough password\n")
        .unwrap();
    assert!(add.wait().unwrap().success());
    let users = run(&["user", "list", "--config", &cfg]);
    assert!(
        stdout(&users).starts_with("alice\tadmin"),
        "{}",
        stdout(&users)
    );

    // With someone able to log in, a public address is allowed; the server answers and stops on SIGTERM.
    let mut serve = Command::new(crate::common::BIN)
        .args(["serve", "--config", &cfg, "--listen", "127.0.0.1:0"])
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(serve.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if let Some(rest) = line.strip_prefix("mxwatch serve: http://") {
            break rest.split('/').next().unwrap().to_string();
        }
    };
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET /api/v1/domains HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut stream, &mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"domain\":\"a.test\""), "{reply}");
    let pid = serve.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = serve.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    std::fs::remove_dir_all(&dir).ok();
}
