//! The server binary as a child process: started with arguments and environment, its stderr
//! read line by line, signalled, waited for.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// The server binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_mcp-patterns-example");

/// The server binary and its stderr lines.
pub struct Server {
    child: Child,
    lines: Receiver<String>,
    /// The stderr lines read so far.
    pub seen: Vec<String>,
    /// The MCP endpoint, from the banner.
    pub url: String,
}

impl Server {
    /// Starts the binary with `args` and waits for its banner.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    /// Spawns the binary with `args` and extra environment `env` (`SSL_CERT_FILE` is removed
    /// unless given there).
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("MCP_LOG_LEVEL", "info")
            .env_remove("SSL_CERT_FILE")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("PHOENIX_COLLECTOR_ENDPOINT");
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the server");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
            url: String::new(),
        }
    }

    /// [`spawn`](Self::spawn), then waits for the banner.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut server = Self::spawn(args, env);
        let line = server.wait_for("serving MCP", Duration::from_secs(30));
        line.split(" at ")
            .nth(1)
            .expect("URL in the banner")
            .trim()
            .clone_into(&mut server.url);
        server
    }

    /// Waits for a stderr line containing `needle`; panics with what was seen after `limit`.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(error) => panic!(
                    "no line with {needle:?} within {limit:?} ({error}): {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// The MCP endpoint's address.
    pub fn addr(&self) -> SocketAddr {
        self.url
            .trim_start_matches("http://")
            .trim_end_matches("/mcp")
            .parse()
            .expect("address")
    }

    /// Sends `signal` (`TERM`, `INT`) to the process, by its id.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits (at most `limit`) for the exit: the status and every stderr line.
    pub fn exit(mut self, limit: Duration) -> (std::process::ExitStatus, Vec<String>) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the server did not exit within {limit:?}: {:#?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(line);
        }
        (status, std::mem::take(&mut self.seen))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
