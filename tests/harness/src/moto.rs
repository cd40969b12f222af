//! One moto server (S3, DynamoDB, ... on 127.0.0.1) per test process, the
//! environment that points an AWS client at it, and unique resource names.
//!
//! The server is `tests/python/moto_server.py`, started on first use. Its
//! stdin is a pipe that only this process holds: when the test process ends,
//! however it ends, the pipe closes and the server stops, so no server
//! outlives its tests.

use std::io::{BufRead, BufReader};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The path of the script that runs the server.
pub const MOTO_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../python/moto_server.py");

const INSTALL_HINT: &str =
    "run `python3 -m pip install -r tests/requirements.txt` (from the repository root)";

/// The moto server of this test process.
#[derive(Debug)]
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The server's process id.
    pub pid: u32,
    // Held, never written: the server exits when this pipe closes.
    _stdin: Mutex<ChildStdin>,
}

impl Moto {
    /// [`aws_env`] for this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        aws_env(&self.endpoint)
    }
}

/// The moto server of this test process, started on the first call (from
/// any thread; later calls return the same server).
///
/// Panics, saying how to install moto, if it cannot be started (and so does
/// every later call, without trying again).
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();
    match MOTO.get_or_init(start) {
        Ok(moto) => moto,
        Err(message) => panic!("{message}"),
    }
}

fn start() -> Result<Moto, String> {
    let mut child = Command::new("python3")
        .arg(MOTO_SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|err| {
            format!(
                "cannot run `python3 {MOTO_SCRIPT}`: {err}; install Python 3, then {INSTALL_HINT}"
            )
        })?;
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");

    // Read the port line on a thread so a hung start-up cannot hang the tests;
    // the thread then drains stdout for as long as the server lives.
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("moto-stdout".into())
        .spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        })
        .expect("spawn moto-stdout");

    let port = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Some(Ok(line))) => line.trim().parse::<u16>().ok(),
        Ok(_) => None,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the moto server did not report its port within 60 s; {INSTALL_HINT}"
            ));
        }
    };
    let Some(port) = port else {
        let status = child
            .wait()
            .map(|s| s.to_string())
            .unwrap_or_else(|e| e.to_string());
        return Err(format!(
            "the moto server did not start ({status}; its stderr is above): is moto installed? {INSTALL_HINT}"
        ));
    };
    let pid = child.id();
    // The child is not waited for: it lives until this process exits and
    // closes its stdin.
    drop(child);
    Ok(Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        pid,
        _stdin: Mutex::new(stdin),
    })
}

/// The environment for a subprocess (the CLI, the Lambda binary) that talks
/// to `endpoint` with the AWS SDK or object_store: dummy credentials,
/// us-east-1, plain HTTP, no instance metadata look-ups.
pub fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ENDPOINT_URL", endpoint.into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_ALLOW_HTTP", "true".into()),
    ]
}

/// A name unique to this call, lower case, valid as an S3 bucket name (3 to
/// 63 characters of `a-z`, `0-9` and `-`, starting and ending with a letter or
/// digit) and as a DynamoDB table name: `PREFIX-PID-N-TIME`, where PREFIX is
/// `prefix` lower-cased with other characters turned into `-` and cut to 30
/// characters.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let mut clean: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(30)
        .collect();
    clean = clean.trim_matches('-').to_owned();
    if clean.is_empty() {
        clean.push('t');
    }
    let n = N.fetch_add(1, Ordering::Relaxed);
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros() as u32;
    format!("{clean}-{:x}-{n}-{time:x}", std::process::id())
}
