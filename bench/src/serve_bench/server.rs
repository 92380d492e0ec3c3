//! The real `kiln` binary as a child process: `kiln serve` (with the port
//! it listens on), or an import; its CPU time and memory from `/proc`, and
//! a graceful stop (SIGTERM, as Ctrl-C) with a kill as the last resort.

use crate::http::Http;
use kiln_bench::proc::{self, Memory};
use std::ffi::OsString;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// How long a stopping `kiln` may take before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `kiln` command. Dropping it kills and reaps it.
#[derive(Debug)]
pub(crate) struct Process {
    child: Child,
    what: String,
    /// Just before the process was started.
    pub(crate) started: Instant,
    /// The same moment on the wall clock, which the browser's `Date.now()`
    /// and file times also read.
    pub(crate) started_wall: SystemTime,
}

impl Process {
    /// Starts `kiln --store STORE ARGS...`, its stdout discarded and its
    /// stderr appended to `log`.
    pub(crate) fn spawn(
        kiln: &Path,
        store: &Path,
        args: &[OsString],
        log: &Path,
    ) -> Result<Process, String> {
        let what = format!(
            "kiln {}",
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        let mut command = Command::new(kiln);
        command
            .arg("--store")
            .arg(store)
            .args(args)
            // A token in the environment would make the server ask for it.
            .env_remove("KILN_TOKEN")
            .env_remove("KILN_STORE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let started_wall = SystemTime::now();
        let started = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", kiln.display()))?;
        Ok(Process {
            child,
            what,
            started,
            started_wall,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User plus system clock ticks the process has used so far.
    pub(crate) fn cpu_ticks(&self) -> Option<u64> {
        proc::cpu_ticks(self.pid())
    }

    /// Its resident and peak memory.
    pub(crate) fn memory(&self) -> Option<Memory> {
        Memory::of(self.pid())
    }

    /// Whether it is still running.
    pub(crate) fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for it to end by itself, at most `timeout`.
    pub(crate) fn wait(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Ok(None) => {
                    return Err(format!("`{}` did not end within {timeout:?}", self.what));
                }
                Err(e) => return Err(format!("cannot wait for `{}`: {e}", self.what)),
            }
        }
    }

    /// Stops it as Ctrl-C would (SIGTERM), and kills it if it has not
    /// ended after [`STOP_TIMEOUT`].
    pub(crate) fn stop(mut self) -> Result<ExitStatus, String> {
        if !self.running() {
            return self.wait(Duration::ZERO);
        }
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .map_err(|e| format!("cannot run kill: {e}"))?;
        if !sent.success() {
            return Err(format!("kill -TERM {} failed", self.pid()));
        }
        self.wait(STOP_TIMEOUT)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A port on 127.0.0.1 that nothing listened on a moment ago.
fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("cannot find a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// `kiln serve` as a child process.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) process: Process,
    pub(crate) port: u16,
}

impl Server {
    /// Starts `kiln --store STORE serve --listen 127.0.0.1:PORT DIRS...`.
    pub(crate) fn start(
        kiln: &Path,
        store: &Path,
        dirs: &[PathBuf],
        log: &Path,
    ) -> Result<Server, String> {
        let port = free_port()?;
        let mut args: Vec<OsString> = vec![
            "serve".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}").into(),
        ];
        args.extend(dirs.iter().map(|d| d.as_os_str().to_owned()));
        let process = Process::spawn(kiln, store, &args, log)?;
        Ok(Server { process, port })
    }

    /// Waits until the server accepts connections; returns how long after
    /// its start that was.
    pub(crate) fn wait_listening(&mut self, timeout: Duration) -> Result<Duration, String> {
        let deadline = self.process.started + timeout;
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(self.process.started.elapsed());
            }
            if !self.process.running() {
                return Err(format!(
                    "kiln serve on port {} ended before it listened (see its log)",
                    self.port
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "kiln serve did not listen on port {} within {timeout:?}",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The address of `path` on this server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A client of this server.
    pub(crate) fn http(&self) -> Http {
        Http::new(self.port)
    }

    /// Jobs not yet finished, from `/api/status`.
    pub(crate) fn pending_jobs(&self) -> Result<u64, String> {
        let status = self.http().get_json("/api/status")?;
        status["jobs"]["ready"]
            .as_u64()
            .zip(status["jobs"]["running"].as_u64())
            .zip(status["jobs"]["retrying"].as_u64())
            .map(|((a, b), c)| a + b + c)
            .ok_or_else(|| "/api/status has no job counts".to_owned())
    }

    pub(crate) fn stop(self) -> Result<ExitStatus, String> {
        self.process.stop()
    }
}
