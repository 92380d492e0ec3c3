//! The browser driver against a real headless Chromium and a small HTTP
//! server in the test: scripts, exceptions, waits, screenshots, file
//! uploads, keys, clicks, dialogs, Content Security Policy, and the kill on
//! drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_testkit::browser::{self, Browser, BrowserError};

const MAIN: &str = r#"<!doctype html>
<html><head><title>kit</title></head>
<body style="margin:0">
<input type="file" id="file">
<button id="go" style="position:absolute; left:300px; top:400px; width:120px; height:40px">Go</button>
<script>
window.keys = [];
window.clicks = [];
window.changes = 0;
document.addEventListener('keydown', e => keys.push(e.key + '/' + e.code + '/' + e.keyCode));
document.getElementById('go').addEventListener('click',
  e => clicks.push([e.isTrusted, e.clientX, e.clientY]));
document.getElementById('file').addEventListener('change', async e => {
  changes += 1;
  const form = new FormData();
  form.append('picked', e.target.files[0]);
  const reply = await fetch('/upload', { method: 'POST', body: form });
  window.uploaded = await reply.text();
});
console.log('ready', 42);
</script>
</body></html>"#;

const TALL: &str = r#"<!doctype html><html><body style="margin:0">
<div style="width:100px; height:3000px; background:#08f"></div></body></html>"#;

const CSP: &str = r#"<!doctype html><html><body>
<script>window.inlineRan = true;</script>
<script src="/allowed.js"></script>
</body></html>"#;

/// The bodies of the POSTs to `/upload`.
type Uploads = Arc<Mutex<Vec<Vec<u8>>>>;

/// Serves the test pages on 127.0.0.1; returns the base address.
fn serve(uploads: Uploads) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let address = listener.local_addr().expect("the bound address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let uploads = Arc::clone(&uploads);
            // One thread per connection: Chromium opens some it never uses.
            std::thread::spawn(move || {
                let _ = respond(stream, &uploads);
            });
        }
    });
    format!("http://{address}")
}

fn respond(mut stream: TcpStream, uploads: &Uploads) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = Vec::new();
    let mut chunk = [0; 4096];
    let head_end = loop {
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    while request.len() < head_end + length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let body = &request[head_end..];
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, kind, extra, content) = match (method, path) {
        ("GET", "/") => ("200 OK", "text/html", "", MAIN.to_owned()),
        ("GET", "/tall") => ("200 OK", "text/html", "", TALL.to_owned()),
        ("GET", "/csp") => (
            "200 OK",
            "text/html",
            "Content-Security-Policy: script-src 'self'\r\n",
            CSP.to_owned(),
        ),
        ("GET", "/allowed.js") => (
            "200 OK",
            "text/javascript",
            "",
            "window.fileRan = true;".to_owned(),
        ),
        ("POST", "/upload") => {
            let size = body.len();
            uploads.lock().expect("uploads lock").push(body.to_vec());
            ("200 OK", "text/plain", "", format!("received {size}"))
        }
        _ => ("404 Not Found", "text/plain", "", "not found".to_owned()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}; charset=utf-8\r\n{extra}\
         Content-Length: {}\r\nConnection: close\r\n\r\n{content}",
        content.len()
    );
    stream.write_all(response.as_bytes())
}

fn launch() -> Option<Browser> {
    browser::require()?;
    Some(Browser::launch().expect("Chromium starts"))
}

#[test]
fn eval_returns_values_and_reports_exceptions_and_timeouts() {
    let Some(mut browser) = launch() else { return };
    let base = serve(Uploads::default());
    browser.goto(&format!("{base}/")).expect("the page loads");

    assert_eq!(browser.eval("1 + 2").expect("eval"), 3);
    assert_eq!(browser.eval("document.title").expect("eval"), "kit");
    assert_eq!(
        browser
            .eval("Promise.resolve({ a: [1, 'x'] })")
            .expect("eval"),
        serde_json::json!({ "a": [1, "x"] })
    );
    assert_eq!(
        browser.eval("undefined").expect("eval"),
        serde_json::Value::Null
    );
    assert!(
        browser
            .console()
            .iter()
            .any(|m| m.kind == "log" && m.text == "ready 42"),
        "{:?}",
        browser.console()
    );

    match browser.eval("(() => { throw new Error('boom in eval') })()") {
        Err(BrowserError::Exception { text }) => assert!(text.contains("boom in eval"), "{text}"),
        other => panic!("expected an exception, got {other:?}"),
    }
    // An uncaught exception of the page itself is recorded.
    browser
        .eval("setTimeout(() => { throw new Error('boom in timer') }, 0); 1")
        .expect("eval");
    browser
        .wait_for(
            "new Promise(r => setTimeout(() => r(true), 50))",
            Duration::from_secs(5),
        )
        .expect("a timer fires");
    let exceptions = browser.exceptions().to_vec();
    assert!(
        exceptions.iter().any(|e| e.text.contains("boom in timer")),
        "{exceptions:?}"
    );

    // A condition that becomes true returns its value.
    browser
        .eval("setTimeout(() => { window.later = 'now' }, 200); 1")
        .expect("eval");
    assert_eq!(
        browser
            .wait_for("window.later", Duration::from_secs(5))
            .expect("the condition becomes true"),
        "now"
    );
    // One that never does is an error after about its timeout, naming the
    // condition and the last throw.
    let started = Instant::now();
    match browser.wait_for(
        "document.querySelector('#never').id",
        Duration::from_millis(600),
    ) {
        Err(BrowserError::WaitTimeout {
            condition,
            last_error,
            ..
        }) => {
            assert!(condition.contains("#never"));
            assert!(last_error.is_some_and(|e| e.contains("null")));
        }
        other => panic!("expected a wait timeout, got {other:?}"),
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(600) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // A condition that is not an expression fails at once.
    let started = Instant::now();
    match browser.wait_for("1;", Duration::from_secs(20)) {
        Err(BrowserError::Exception { text }) => assert!(text.contains("SyntaxError"), "{text}"),
        other => panic!("expected a syntax error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    match browser.wait_for("false", Duration::from_millis(200)) {
        Err(BrowserError::WaitTimeout { last_error, .. }) => assert_eq!(last_error, None),
        other => panic!("expected a wait timeout, got {other:?}"),
    }

    // A navigation that fails says why.
    let closed = TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = closed.local_addr().expect("address").port();
    drop(closed);
    match browser.goto(&format!("http://127.0.0.1:{port}/")) {
        Err(BrowserError::Navigation { error, .. }) => assert!(error.contains("ERR_"), "{error}"),
        other => panic!("expected a failed navigation, got {other:?}"),
    }
}

/// The width and height in a PNG's IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).expect("the screenshot");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    (word(16), word(20))
}

#[test]
fn screenshots_are_pngs_of_the_viewport_or_the_whole_page() {
    let Some(mut browser) = launch() else { return };
    let base = serve(Uploads::default());
    let dir = tempfile::tempdir().expect("a temp dir");
    browser
        .goto(&format!("{base}/tall"))
        .expect("the page loads");

    let viewport = dir.path().join("viewport.png");
    browser.screenshot(&viewport).expect("a screenshot");
    assert_eq!(png_size(&viewport), browser::VIEWPORT);

    let full = dir.path().join("full.png");
    browser.screenshot_full_page(&full).expect("a screenshot");
    assert_eq!(png_size(&full), (browser::VIEWPORT.0, 3000));

    let image = image::open(&viewport).expect("the PNG decodes").to_rgb8();
    assert_eq!(image.get_pixel(10, 10).0, [0, 0x88, 0xff], "the blue block");
    assert_eq!(
        image.get_pixel(500, 10).0,
        [255, 255, 255],
        "the white page"
    );
}

#[test]
fn files_keys_clicks_and_dialogs_act_as_a_user_would() {
    let Some(mut browser) = launch() else { return };
    let uploads = Uploads::default();
    let base = serve(Arc::clone(&uploads));
    browser.goto(&format!("{base}/")).expect("the page loads");

    // A picked file fires `change`, and the handler's upload carries it.
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("picked.bin");
    let content: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    std::fs::write(&file, &content).expect("the file is written");
    browser.set_files("#file", &[&file]).expect("files set");
    let reply = browser
        .wait_for("window.uploaded", Duration::from_secs(10))
        .expect("the upload finishes");
    assert!(
        reply.as_str().is_some_and(|r| r.starts_with("received ")),
        "{reply}"
    );
    assert_eq!(browser.eval("changes").expect("eval"), 1);
    let bodies = uploads.lock().expect("uploads lock").clone();
    assert_eq!(bodies.len(), 1);
    assert!(
        bodies[0].windows(content.len()).any(|w| w == content),
        "the multipart body holds the file's bytes"
    );
    assert!(matches!(
        browser.set_files("#nothing", &[&file]),
        Err(BrowserError::NoElement { .. })
    ));

    for key in ["ArrowLeft", "ArrowRight", "Escape", "j", "K", "7"] {
        browser.press_key(key).expect("the key is pressed");
    }
    assert_eq!(
        browser.eval("keys").expect("eval"),
        serde_json::json!([
            "ArrowLeft/ArrowLeft/37",
            "ArrowRight/ArrowRight/39",
            "Escape/Escape/27",
            "j/KeyJ/74",
            "K/KeyK/75",
            "7/Digit7/55"
        ])
    );
    assert!(matches!(
        browser.press_key("NoSuchKey"),
        Err(BrowserError::UnknownKey(_))
    ));

    browser.click("#go").expect("the button is clicked");
    assert_eq!(
        browser.eval("clicks").expect("eval"),
        serde_json::json!([[true, 360, 420]])
    );
    assert!(matches!(
        browser.click("#missing"),
        Err(BrowserError::NoElement { .. })
    ));

    // Dialogs are recorded and answered; the page goes on.
    assert_eq!(
        browser
            .eval("alert('hello'); 'after'")
            .expect("alert returns"),
        "after"
    );
    assert_eq!(
        browser.eval("confirm('sure?')").expect("confirm returns"),
        false
    );
    browser.set_accept_dialogs(true);
    assert_eq!(
        browser.eval("confirm('really?')").expect("confirm returns"),
        true
    );
    let dialogs: Vec<_> = browser
        .dialogs()
        .iter()
        .map(|d| (d.kind.clone(), d.message.clone()))
        .collect();
    assert_eq!(
        dialogs,
        [
            ("alert".to_owned(), "hello".to_owned()),
            ("confirm".to_owned(), "sure?".to_owned()),
            ("confirm".to_owned(), "really?".to_owned()),
        ]
    );
}

#[test]
fn a_blocked_inline_script_is_logged_and_does_not_run() {
    let Some(mut browser) = launch() else { return };
    let base = serve(Uploads::default());
    browser
        .goto(&format!("{base}/csp"))
        .expect("the page loads");

    assert_eq!(browser.eval("window.fileRan === true").expect("eval"), true);
    assert_eq!(
        browser
            .eval("window.inlineRan === undefined")
            .expect("eval"),
        true
    );
    let entries = browser.log_entries().to_vec();
    assert!(
        entries
            .iter()
            .any(|e| e.level == "error" && e.text.contains("Content Security Policy")),
        "{entries:?}"
    );
}

/// The processes whose command line names `needle`.
fn processes_naming(needle: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmdline)
                .contains(needle)
                .then_some(pid)
        })
        .collect()
}

fn assert_gone(pid: u32, profile: &Path) {
    let needle = profile.to_string_lossy().into_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alive = Path::new(&format!("/proc/{pid}")).exists();
        let helpers = processes_naming(&needle);
        if !alive && helpers.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Chromium {pid} alive: {alive}; processes still naming its profile: {helpers:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!profile.exists(), "the profile folder is removed");
}

#[test]
fn drop_ends_chromium_and_its_helpers_also_after_a_panic() {
    let Some(browser) = launch() else { return };
    let pid = browser.pid();
    let profile = browser.profile_dir().to_path_buf();
    let needle = profile.to_string_lossy().into_owned();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    assert!(
        processes_naming(&needle).len() > 1,
        "Chromium runs helper processes"
    );
    drop(browser);
    assert_gone(pid, &profile);

    let started = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&started);
    let panicked = std::thread::spawn(move || {
        let mut browser = Browser::launch().expect("Chromium starts");
        browser.goto("about:blank").expect("about:blank loads");
        *seen.lock().expect("lock") = Some((browser.pid(), browser.profile_dir().to_path_buf()));
        panic!("a test failing with a browser open");
    })
    .join();
    assert!(panicked.is_err());
    let (pid, profile) = started
        .lock()
        .expect("lock")
        .clone()
        .expect("the browser started");
    assert_gone(pid, &profile);
}

#[test]
fn drop_kills_a_chromium_that_does_not_close() {
    let Some(browser) = launch() else { return };
    let pid = browser.pid();
    let profile = browser.profile_dir().to_path_buf();
    // A stopped browser reads no command: only the kill can end it.
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(stopped.success());
    drop(browser);
    assert_gone(pid, &profile);
}
