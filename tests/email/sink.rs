//! A real SMTP server for the tests: `scripts/smtp_sink.py` (aiosmtpd), one per test, on a
//! free port, writing every accepted message to its own directory before answering 250.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct SmtpSink {
    pub port: u16,
    pub dir: PathBuf,
    child: Child,
}

impl SmtpSink {
    /// Starts a sink; `extra` are more options for the script (e.g. `--auth user:pass`).
    pub fn start(extra: &[&str]) -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let venv_python = root.join(".venv/bin/python");
        let python = if venv_python.exists() {
            venv_python
        } else {
            PathBuf::from("python3")
        };
        let dir = std::env::temp_dir().join(format!("hub-mail-{}", uuid::Uuid::new_v4().simple()));
        let mut child = Command::new(python)
            .arg(root.join("scripts/smtp_sink.py"))
            .args(["--port", "0", "--exit-on-stdin-eof", "--maildir"])
            .arg(&dir)
            .args(extra)
            // The sink exits when this pipe closes, so it never outlives the test binary.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start scripts/smtp_sink.py (needs aiosmtpd: `make venv`)");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            assert!(Instant::now() < deadline, "the SMTP sink did not start");
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(p) = line.strip_prefix("LISTENING ") {
                        break p.trim().parse::<u16>().expect("a port");
                    }
                }
                _ => panic!("the SMTP sink exited before listening"),
            }
        };
        // Keep draining its stdout (one line per message) so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { port, dir, child }
    }

    /// Every accepted message (the sink's decoded JSON record), in arrival order.
    pub fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "json"));
        files.sort();
        files
            .iter()
            .map(|p| {
                serde_json::from_str(&std::fs::read_to_string(p).expect("read record"))
                    .expect("JSON record")
            })
            .collect()
    }

    /// The raw message as received.
    pub fn raw(&self, record: &Value) -> String {
        std::fs::read_to_string(self.dir.join(record["eml"].as_str().expect("eml name")))
            .expect("read eml")
    }

    /// Every RCPT answer, `(code, address)`, in order.
    pub fn rcpt_log(&self) -> Vec<(u16, String)> {
        std::fs::read_to_string(self.dir.join("rcpt.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                l.split_once(' ')
                    .map(|(c, a)| (c.parse().unwrap_or(0), a.to_string()))
            })
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
