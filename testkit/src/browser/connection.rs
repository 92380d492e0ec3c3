//! The one websocket to Chromium's DevTools endpoint: commands out, messages
//! in, every read bounded by a deadline.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

use super::{BrowserError, DEFAULT_TIMEOUT, Result};

/// The websocket to Chromium's browser endpoint. Page commands go through
/// it with their session id (flattened sessions), so one socket and one
/// reader carry everything.
#[derive(Debug)]
pub(super) struct Connection {
    socket: WebSocket<TcpStream>,
    next_id: u64,
}

impl Connection {
    pub(super) fn open(url: &str) -> Result<Connection> {
        let connect_error = |message: String| BrowserError::Connect {
            url: url.to_owned(),
            message,
        };
        let authority = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .ok_or_else(|| connect_error("not a ws:// address".into()))?;
        let address: SocketAddr = authority
            .to_socket_addrs()
            .map_err(|e| connect_error(e.to_string()))?
            .next()
            .ok_or_else(|| connect_error("the host resolves to nothing".into()))?;
        let stream = TcpStream::connect_timeout(&address, DEFAULT_TIMEOUT)
            .map_err(|e| connect_error(e.to_string()))?;
        for set in [TcpStream::set_read_timeout, TcpStream::set_write_timeout] {
            set(&stream, Some(DEFAULT_TIMEOUT)).map_err(|e| connect_error(e.to_string()))?;
        }
        stream
            .set_nodelay(true)
            .map_err(|e| connect_error(e.to_string()))?;
        // Full-page screenshots arrive as one large message.
        let config = WebSocketConfig::default()
            .max_message_size(Some(1 << 30))
            .max_frame_size(Some(1 << 30));
        let (socket, _response) =
            tungstenite::client::client_with_config(url, stream, Some(config))
                .map_err(|e| connect_error(e.to_string()))?;
        Ok(Connection { socket, next_id: 1 })
    }

    /// Bounds how long a send may block (a browser that reads nothing
    /// fills the socket's buffer).
    pub(super) fn limit_sends(&mut self, timeout: Duration) {
        let _ = self.socket.get_mut().set_write_timeout(Some(timeout));
    }

    /// Sends a command; returns its id.
    pub(super) fn send(
        &mut self,
        method: &str,
        params: Value,
        session: Option<&str>,
    ) -> Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = Value::from(session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .map_err(|e| BrowserError::Connection {
                method: method.to_owned(),
                message: e.to_string(),
            })?;
        Ok(id)
    }

    /// The next message, or `None` once `deadline` passes.
    pub(super) fn receive(&mut self, method: &str, deadline: Instant) -> Result<Option<Value>> {
        let failed = |message: String| BrowserError::Connection {
            method: method.to_owned(),
            message,
        };
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            // A zero timeout would mean "block forever".
            let wait = (deadline - now).max(Duration::from_millis(1));
            self.socket
                .get_mut()
                .set_read_timeout(Some(wait))
                .map_err(|e| failed(e.to_string()))?;
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    return serde_json::from_str(text.as_str())
                        .map(Some)
                        .map_err(|e| failed(format!("not JSON: {e}")));
                }
                Ok(Message::Close(frame)) => {
                    return Err(failed(format!("Chromium closed it ({frame:?})")));
                }
                // Pings are answered by tungstenite; binary frames are not
                // part of the protocol.
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(failed(e.to_string())),
            }
        }
    }
}

/// A command to the browser itself (no session), before the page exists.
pub(super) fn browser_command(
    connection: &mut Connection,
    method: &str,
    params: Value,
) -> Result<Value> {
    let id = connection.send(method, params, None)?;
    let deadline = Instant::now() + DEFAULT_TIMEOUT;
    loop {
        let Some(message) = connection.receive(method, deadline)? else {
            return Err(BrowserError::Timeout {
                method: method.to_owned(),
                after: DEFAULT_TIMEOUT,
            });
        };
        if message.get("id").and_then(Value::as_u64) == Some(id) {
            return reply_result(method, message);
        }
    }
}

pub(super) fn reply_result(method: &str, mut message: Value) -> Result<Value> {
    if let Some(error) = message.get("error") {
        let mut text = error["message"]
            .as_str()
            .unwrap_or("(no message)")
            .to_owned();
        if let Some(data) = error.get("data").and_then(Value::as_str) {
            text = format!("{text} ({data})");
        }
        return Err(BrowserError::Protocol {
            method: method.to_owned(),
            code: error["code"].as_i64().unwrap_or(0),
            message: text,
        });
    }
    Ok(message
        .get_mut("result")
        .map(Value::take)
        .unwrap_or(Value::Null))
}
