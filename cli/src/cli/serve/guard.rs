//! What every request passes before a handler sees it: the access token,
//! the `Host` a loopback server answers to, the same-origin rule for
//! requests that change something, and the headers every answer carries.

use super::App;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::io::Read;
use std::sync::Arc;

/// The cookie that carries the token after the first visit.
const COOKIE: &str = "kiln_token";

/// The page's script, styles, images, videos and API calls come from this
/// origin only; no inline script, no plugins, no framing, no form posts
/// elsewhere.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob: data:; media-src 'self'; connect-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A random token: 32 lowercase hex digits from the system's random source.
pub(crate) fn new_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| anyhow::anyhow!("cannot make an access token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The `Host` values that name this server on loopback.
pub(crate) fn loopback_hosts(bound: std::net::SocketAddr) -> Vec<String> {
    let port = bound.port();
    let mut hosts: Vec<String> = ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .map(|h| format!("{h}:{port}"))
        .collect();
    // Another loopback address it was told to listen on (127.0.0.2, ...).
    if !bound.ip().is_unspecified() {
        let own = bound.to_string();
        if !hosts.contains(&own) {
            hosts.push(own);
        }
    }
    hosts
}

/// Compares without leaking, through timing, how much of a guess was right.
fn same_secret(given: &str, token: &str) -> bool {
    let (a, b) = (given.as_bytes(), token.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token a request carries: bearer header, cookie, or `token=` in the
/// query (the printed address).
fn presented(request: &Request) -> Vec<String> {
    let mut out = Vec::new();
    let headers = request.headers();
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        out.push(v.trim().to_owned());
    }
    for cookies in headers.get_all(header::COOKIE) {
        if let Ok(text) = cookies.to_str() {
            for part in text.split(';') {
                if let Some(v) = part.trim().strip_prefix("kiln_token=") {
                    out.push(v.to_owned());
                }
            }
        }
    }
    if let Some(query) = request.uri().query() {
        for pair in query.split('&') {
            if let Some(v) = pair.strip_prefix("token=") {
                out.push(v.to_owned());
            }
        }
    }
    out
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{why}\n"),
    )
        .into_response()
}

/// Whether a request that changes something comes from this server's own
/// page: a browser names the page's origin in `Origin` (and says
/// `same-origin` in `Sec-Fetch-Site`) on every such request, so a page of
/// another site is refused; scripts that send neither are not browsers and
/// pass.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let Some(host) = host else {
            return false;
        };
        let ours = ["http://", "https://"]
            .iter()
            .any(|scheme| origin.strip_prefix(scheme) == Some(host));
        if !ours {
            return false;
        }
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        None | Some("same-origin") | Some("none") => true,
        Some(_) => false,
    }
}

pub(crate) async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let mut set_cookie = None;
    match &app.token {
        Some(token) => {
            let given = presented(&request);
            if !given.iter().any(|g| same_secret(g, token)) {
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    "kiln: this server needs its access token (open the address it printed)",
                );
            }
            let by_query = request
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|p| p.starts_with("token=")));
            if by_query {
                set_cookie = Some(format!(
                    "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
                ));
            }
        }
        None => {
            let host = request
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            if !app.hosts.iter().any(|h| h == host) {
                return refuse(
                    StatusCode::MISDIRECTED_REQUEST,
                    "kiln: this server answers only to its loopback address",
                );
            }
        }
    }
    let changes = !matches!(*request.method(), Method::GET | Method::HEAD);
    if changes && !same_origin(request.headers()) {
        return refuse(
            StatusCode::FORBIDDEN,
            "kiln: refused a request from another site",
        );
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Some(cookie) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}

/// An empty answer with a status, for handlers.
pub(crate) fn status_only(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}
