//! The real binary: `intentrail serve` as a child process, listening on a free port, killed
//! when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::env::Env;

pub const BIN: &str = env!("CARGO_BIN_EXE_intentrail");

/// A running `intentrail serve`.
pub struct RailProcess {
    pub url: String,
    child: Child,
}

/// `intentrail serve` on `config`, on a free port of 127.0.0.1.
fn serve(config: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.args(["serve", "--config"])
        .arg(config)
        .args(["--listen", "127.0.0.1:0"]);
    c
}

/// Spawn while holding the environment: the child inherits no other test's changes.
fn spawn(c: &mut Command) -> Child {
    let _env = Env::lock();
    c.spawn().expect("spawn intentrail serve")
}

impl RailProcess {
    /// At `RUST_LOG=warn`; its stderr goes to the test's output.
    pub fn start(config: &Path) -> RailProcess {
        let mut child = spawn(
            serve(config)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        );
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "serve said {line:?}");
        // Keep draining stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while stdout.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        RailProcess { url, child }
    }

    /// At `RUST_LOG=trace` with `env` added to its environment, its stdout and stderr written
    /// to `stdout.log` and `stderr.log` in `dir` (read them with [`logs`]).
    pub fn start_traced(config: &Path, dir: &Path, env: &[(String, String)]) -> RailProcess {
        let mut cmd = serve(config);
        cmd.env("RUST_LOG", "trace")
            .env("NO_COLOR", "1")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("stdout.log")).unwrap())
            .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap());
        let mut child = spawn(&mut cmd);
        let mut url = None;
        for _ in 0..200 {
            let out = std::fs::read_to_string(dir.join("stdout.log")).unwrap_or_default();
            if let Some(rest) = out.split("listening on ").nth(1) {
                url = Some(rest.lines().next().unwrap_or_default().trim().to_owned());
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let Some(url) = url else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the rail did not start within 10 s");
        };
        assert!(url.starts_with("http://127.0.0.1:"), "serve said {url:?}");
        RailProcess { url, child }
    }

    /// `kill -9` and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (a graceful shutdown), then wait (bounded, 5 s), then SIGKILL.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill9();
    }
}

impl Drop for RailProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// What a [`RailProcess::start_traced`] wrote to `dir`: its stdout, then its stderr.
pub fn logs(dir: &Path) -> Vec<u8> {
    [
        std::fs::read(dir.join("stdout.log")).unwrap(),
        std::fs::read(dir.join("stderr.log")).unwrap(),
    ]
    .concat()
}
