//! A small HTTP/1.1 client for `kiln serve`'s API: GET over one kept-alive
//! connection to 127.0.0.1, bodies by length or in chunks. It times what a
//! script calling the API waits for, with nothing of its own in between.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How long a read or a write may block.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// An answer: its status and its body.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// One kept-alive connection to a server on 127.0.0.1.
#[derive(Debug)]
pub(crate) struct Http {
    port: u16,
    connection: Option<BufReader<TcpStream>>,
}

impl Http {
    /// A client of the server on `port` (connected at the first request).
    pub(crate) fn new(port: u16) -> Http {
        Http {
            port,
            connection: None,
        }
    }

    fn connect(&self) -> Result<BufReader<TcpStream>, String> {
        let stream = TcpStream::connect(("127.0.0.1", self.port))
            .map_err(|e| format!("cannot connect to 127.0.0.1:{}: {e}", self.port))?;
        let set = |r: std::io::Result<()>| r.map_err(|e| format!("cannot set up a socket: {e}"));
        set(stream.set_nodelay(true))?;
        set(stream.set_read_timeout(Some(IO_TIMEOUT)))?;
        set(stream.set_write_timeout(Some(IO_TIMEOUT)))?;
        Ok(BufReader::new(stream))
    }

    /// GETs `path` (with its query); a connection the server closed
    /// between requests is opened again once.
    pub(crate) fn get(&mut self, path: &str) -> Result<Response, String> {
        let fresh = self.connection.is_none();
        match self.exchange(path) {
            Ok(response) => Ok(response),
            Err(_) if !fresh => {
                self.connection = None;
                self.exchange(path)
            }
            Err(e) => Err(e),
        }
    }

    /// GETs `path` and parses its JSON body; any status but 200 is an error.
    pub(crate) fn get_json(&mut self, path: &str) -> Result<serde_json::Value, String> {
        let response = self.get(path)?;
        if response.status != 200 {
            return Err(format!(
                "GET {path}: status {}: {}",
                response.status,
                String::from_utf8_lossy(&response.body).escape_debug()
            ));
        }
        serde_json::from_slice(&response.body).map_err(|e| format!("GET {path}: not JSON: {e}"))
    }

    fn exchange(&mut self, path: &str) -> Result<Response, String> {
        let mut connection = match self.connection.take() {
            Some(c) => c,
            None => self.connect()?,
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: application/json\r\n\r\n",
            self.port
        );
        connection
            .get_mut()
            .write_all(request.as_bytes())
            .map_err(|e| format!("GET {path}: cannot send: {e}"))?;
        let (response, keep) = read_response(&mut connection, path)?;
        if keep {
            self.connection = Some(connection);
        }
        Ok(response)
    }
}

fn read_line(reader: &mut impl BufRead, path: &str) -> Result<String, String> {
    let mut line = String::new();
    let n = reader
        .read_line(&mut line)
        .map_err(|e| format!("GET {path}: cannot read the answer: {e}"))?;
    if n == 0 {
        return Err(format!("GET {path}: the server closed the connection"));
    }
    Ok(line.trim_end().to_owned())
}

/// Reads one response; returns it and whether the connection stays open.
fn read_response(reader: &mut impl BufRead, path: &str) -> Result<(Response, bool), String> {
    let status_line = read_line(reader, path)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("GET {path}: not an HTTP answer"))?;
    let mut length = None;
    let mut chunked = false;
    let mut keep = true;
    loop {
        let line = read_line(reader, path)?;
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => keep = !value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let read_error = |e: std::io::Error| format!("GET {path}: cannot read the body: {e}");
    let mut body = Vec::new();
    if chunked {
        loop {
            let size_line = read_line(reader, path)?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("GET {path}: a bad chunk size"))?;
            if size == 0 {
                // Trailers, then the blank line.
                while !read_line(reader, path)?.is_empty() {}
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader
                .read_exact(body.get_mut(start..).unwrap_or_default())
                .map_err(read_error)?;
            read_line(reader, path)?;
        }
    } else if let Some(length) = length {
        body.resize(length, 0);
        reader.read_exact(&mut body).map_err(read_error)?;
    } else if status != 204 && status != 304 {
        reader.read_to_end(&mut body).map_err(read_error)?;
        keep = false;
    }
    Ok((Response { status, body }, keep))
}

/// `text` percent-encoded for a query value.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
