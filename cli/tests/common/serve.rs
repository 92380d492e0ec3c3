//! A running `kiln serve` child and a plain HTTP/1.1 client for it: raw
//! requests, so that tests can send what a browser would not (a foreign
//! `Host`, a cross-site `Origin`, a path with `..`, a body cut short).

use super::kiln;
use kiln_testkit::child::ChildGuard;
use serde_json::Value as Json;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// How long a start or a wait may take before the test fails; generous
/// because the machine is shared, never a measure of speed.
pub const DEADLINE: Duration = Duration::from_secs(180);

/// A `kiln serve` child, killed when dropped.
pub struct Server {
    child: ChildGuard,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The address it printed, with `?token=` when it has one.
    pub printed: String,
    /// Its access token, if any.
    pub token: Option<String>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `kiln --store STORE serve --listen 127.0.0.1:0 ARGS...` and
    /// waits for the address it prints.
    pub fn start(store: &Path, args: &[&OsStr]) -> Server {
        Server::start_listening(store, "127.0.0.1:0", args)
    }

    /// As [`Server::start`], listening on `listen`.
    pub fn start_listening(store: &Path, listen: &str, args: &[&OsStr]) -> Server {
        let mut child = kiln(store)
            .args(["serve", "--listen", listen])
            .args(args)
            .env_remove("KILN_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kiln serve starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr_pipe = child.stderr.take().expect("stderr is piped");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                if let Ok(mut text) = sink.lock() {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let child = ChildGuard(child);
        let printed = match rx.recv_timeout(DEADLINE) {
            Ok(line) => line,
            Err(_) => panic!(
                "kiln serve printed no address; its stderr:\n{}",
                stderr.lock().map(|s| s.clone()).unwrap_or_default()
            ),
        };
        let rest = printed
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("not an address: {printed}"));
        let (host, query) = rest.split_once('/').unwrap_or((rest, ""));
        let token = query.strip_prefix("?token=").map(str::to_owned);
        let addr: SocketAddr = host
            .parse()
            .unwrap_or_else(|_| panic!("no address and port in {printed}"));
        Server {
            child,
            addr,
            printed,
            token,
            stderr,
        }
    }

    /// The page's base address, `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the server wrote on standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// `GET path` with the token (if any) as a bearer, as JSON; fails the
    /// test unless the answer is 200.
    pub fn get_json(&self, path: &str) -> Json {
        let mut headers = Vec::new();
        if let Some(token) = &self.token {
            headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
        }
        let response = request(self.addr, "GET", path, &headers, &[]);
        assert_eq!(
            response.status,
            200,
            "GET {path}: {}",
            String::from_utf8_lossy(&response.body)
        );
        response.json()
    }

    /// Polls `GET path` until `done` holds for its JSON, and returns it.
    pub fn wait_json(&self, path: &str, what: &str, done: impl Fn(&Json) -> bool) -> Json {
        let started = Instant::now();
        loop {
            let value = self.get_json(path);
            if done(&value) {
                return value;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{what} did not happen; last {path}: {value}\nserver stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }
}

/// An HTTP response, read to its end.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, failing the test when it is not.
    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(400)])
            )
        })
    }
}

/// Sends one request (`Connection: close`) with `Host: 127.0.0.1:PORT`
/// unless `headers` sets one, and reads the whole response.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Response {
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut stream = TcpStream::connect(addr).expect("the server accepts a connection");
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("a read timeout");
    stream.write_all(head.as_bytes()).expect("request sent");
    stream.write_all(body).expect("body sent");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("response read");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&data[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = end + 2;
        let stop = (start + size).min(data.len());
        out.extend_from_slice(&data[start..stop]);
        data = data.get(stop + 2..).unwrap_or(&[]);
    }
}

/// A `multipart/form-data` body with one `file` part per `(name, bytes)`,
/// and its content type.
pub fn multipart(files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "kiln-test-boundary-5f2c9a";
    let mut body = Vec::new();
    for (name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The headers a same-origin `fetch` from the page sends with a POST.
pub fn same_origin(addr: SocketAddr) -> Vec<(String, String)> {
    vec![
        ("Origin".to_owned(), format!("http://{addr}")),
        ("Sec-Fetch-Site".to_owned(), "same-origin".to_owned()),
    ]
}

/// `text` as a query value the way a browser's form (and
/// `URLSearchParams`) writes it: spaces as `+`, everything but letters,
/// digits and `*-._` percent-encoded.
pub fn form_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
