//! The page of a browser: navigation, scripts, input, screenshots, and the
//! records of what the page did, filled by the one reader loop.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[cfg(doc)]
use super::Browser;
use super::connection::{Connection, browser_command, reply_result};
use super::keys::KeySpec;
use super::{BrowserError, DEFAULT_TIMEOUT, Result, VIEWPORT};

/// A console call of the page (`console.log`, `console.error`, ...).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConsoleMessage {
    /// `log`, `error`, `warning`, `info`, `debug`, ...
    pub kind: String,
    /// The arguments, as text, joined by spaces.
    pub text: String,
}

/// An exception the page did not catch.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JsException {
    /// The description (message and stack), or Chromium's summary.
    pub text: String,
    /// The script's address, when known.
    pub url: String,
    /// The line (0-based), when known.
    pub line: u64,
}

/// A JavaScript dialog the page opened; it was answered at once.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Dialog {
    /// `alert`, `confirm`, `prompt` or `beforeunload`.
    pub kind: String,
    /// Its message.
    pub message: String,
}

/// An entry of the browser's log: network errors, interventions, and
/// Content Security Policy violations (source `security` or `other`, text
/// naming the policy).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LogEntry {
    /// `javascript`, `network`, `security`, `violation`, `other`, ...
    pub source: String,
    /// `verbose`, `info`, `warning` or `error`.
    pub level: String,
    /// The text.
    pub text: String,
    /// The address it concerns, when known.
    pub url: String,
}

/// The page of a [`Browser`]: navigation, scripts, input, screenshots, and
/// the records of what the page did.
#[derive(Debug)]
pub struct Page {
    pub(super) connection: Connection,
    session: String,
    timeout: Duration,
    accept_dialogs: bool,
    crashed: bool,
    /// The loader ids whose main-frame `load` lifecycle event arrived since
    /// the last navigation started.
    loaded: Vec<String>,
    console: Vec<ConsoleMessage>,
    exceptions: Vec<JsException>,
    dialogs: Vec<Dialog>,
    log_entries: Vec<LogEntry>,
}

impl Page {
    pub(super) fn open(mut connection: Connection) -> Result<Page> {
        let target = browser_command(
            &mut connection,
            "Target.createTarget",
            json!({ "url": "about:blank" }),
        )?;
        let target_id = string_field(&target, "targetId", "Target.createTarget")?;
        let attached = browser_command(
            &mut connection,
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        )?;
        let session = string_field(&attached, "sessionId", "Target.attachToTarget")?;
        let mut page = Page {
            connection,
            session,
            timeout: DEFAULT_TIMEOUT,
            accept_dialogs: false,
            crashed: false,
            loaded: Vec::new(),
            console: Vec::new(),
            exceptions: Vec::new(),
            dialogs: Vec::new(),
            log_entries: Vec::new(),
        };
        page.command("Page.enable", json!({}))?;
        page.command("Page.setLifecycleEventsEnabled", json!({ "enabled": true }))?;
        page.command("Runtime.enable", json!({}))?;
        page.command("Log.enable", json!({}))?;
        page.set_viewport(VIEWPORT.0, VIEWPORT.1)?;
        Ok(page)
    }

    /// The timeout of every command and navigation.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sets the timeout of every later command and navigation.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Whether dialogs are accepted (`confirm` returns true) rather than
    /// dismissed (the default: `confirm` returns false).
    pub fn set_accept_dialogs(&mut self, accept: bool) {
        self.accept_dialogs = accept;
    }

    /// Sends a DevTools command to the page and returns its result,
    /// recording the events that arrive meanwhile.
    pub fn command(&mut self, method: &str, params: Value) -> Result<Value> {
        self.command_within(method, params, self.timeout)
    }

    fn command_within(&mut self, method: &str, params: Value, timeout: Duration) -> Result<Value> {
        if self.crashed {
            return Err(BrowserError::Crashed {
                method: method.to_owned(),
            });
        }
        let id = self.connection.send(method, params, Some(&self.session))?;
        let deadline = Instant::now() + timeout;
        loop {
            let Some(message) = self.connection.receive(method, deadline)? else {
                return Err(BrowserError::Timeout {
                    method: method.to_owned(),
                    after: timeout,
                });
            };
            if message.get("id").and_then(Value::as_u64) == Some(id) {
                return reply_result(method, message);
            }
            // Replies to commands that timed out, or to the dialogs
            // answered without waiting, are dropped here.
            self.record(&message);
            if self.crashed {
                return Err(BrowserError::Crashed {
                    method: method.to_owned(),
                });
            }
        }
    }

    /// Reads and records events until `done` holds or `deadline` passes
    /// (then `Ok(false)`).
    fn pump_until(
        &mut self,
        waiting_for: &str,
        deadline: Instant,
        done: impl Fn(&Page) -> bool,
    ) -> Result<bool> {
        while !done(self) {
            if self.crashed {
                return Err(BrowserError::Crashed {
                    method: waiting_for.to_owned(),
                });
            }
            match self.connection.receive(waiting_for, deadline)? {
                Some(message) => self.record(&message),
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Routes one message that is not an awaited reply.
    fn record(&mut self, message: &Value) {
        if message.get("sessionId").and_then(Value::as_str) != Some(&self.session) {
            return;
        }
        let Some(method) = message.get("method").and_then(Value::as_str) else {
            return;
        };
        let params = &message["params"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        match method {
            "Page.lifecycleEvent" if params["name"] == "load" => {
                self.loaded.push(text(&params["loaderId"]));
            }
            "Runtime.consoleAPICalled" => {
                let args = params["args"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                self.console.push(ConsoleMessage {
                    kind: text(&params["type"]),
                    text: args.iter().map(remote_text).collect::<Vec<_>>().join(" "),
                });
            }
            "Runtime.exceptionThrown" => {
                let details = &params["exceptionDetails"];
                self.exceptions.push(JsException {
                    text: exception_text(details),
                    url: text(&details["url"]),
                    line: details["lineNumber"].as_u64().unwrap_or(0),
                });
            }
            "Log.entryAdded" => {
                let entry = &params["entry"];
                self.log_entries.push(LogEntry {
                    source: text(&entry["source"]),
                    level: text(&entry["level"]),
                    text: text(&entry["text"]),
                    url: text(&entry["url"]),
                });
            }
            "Page.javascriptDialogOpening" => {
                self.dialogs.push(Dialog {
                    kind: text(&params["type"]),
                    message: text(&params["message"]),
                });
                // Answered without waiting: the reply is dropped by the
                // reader, and a failure shows as the page staying blocked,
                // which the next command's timeout reports.
                let _ = self.connection.send(
                    "Page.handleJavaScriptDialog",
                    json!({ "accept": self.accept_dialogs }),
                    Some(&self.session),
                );
            }
            "Inspector.targetCrashed" => self.crashed = true,
            _ => {}
        }
    }

    /// Loads `url` in the page and waits for its `load` event (a
    /// same-document navigation, such as a new `#fragment`, returns at
    /// once).
    pub fn goto(&mut self, url: &str) -> Result<()> {
        const METHOD: &str = "Page.navigate";
        self.loaded.clear();
        let started = Instant::now();
        let reply = self.command(METHOD, json!({ "url": url }))?;
        if let Some(error) = reply.get("errorText").and_then(Value::as_str)
            && !error.is_empty()
        {
            return Err(BrowserError::Navigation {
                url: url.to_owned(),
                error: error.to_owned(),
            });
        }
        let Some(loader) = reply.get("loaderId").and_then(Value::as_str) else {
            return Ok(());
        };
        let loader = loader.to_owned();
        let deadline = started + self.timeout;
        if self.pump_until("Page.lifecycleEvent load", deadline, |page| {
            page.loaded.contains(&loader)
        })? {
            Ok(())
        } else {
            Err(BrowserError::Timeout {
                method: format!("{METHOD} to {url} (waiting for the load event)"),
                after: self.timeout,
            })
        }
    }

    /// Evaluates `js` as an expression in the page, awaits it if it is a
    /// promise, and returns its value as JSON (`undefined` becomes `null`;
    /// `NaN`, `Infinity`, `-0` and big integers become strings; DOM nodes
    /// become `{}`). A thrown exception or rejected promise is
    /// [`BrowserError::Exception`] with its text.
    pub fn eval(&mut self, js: &str) -> Result<Value> {
        self.eval_within(js, self.timeout)
    }

    fn eval_within(&mut self, js: &str, timeout: Duration) -> Result<Value> {
        let reply = self.command_within(
            "Runtime.evaluate",
            json!({
                "expression": js,
                "returnByValue": true,
                "awaitPromise": true,
                "userGesture": true,
            }),
            timeout,
        )?;
        if let Some(details) = reply.get("exceptionDetails") {
            return Err(BrowserError::Exception {
                text: exception_text(details),
            });
        }
        let result = &reply["result"];
        Ok(match result.get("value") {
            Some(value) => value.clone(),
            None => result
                .get("unserializableValue")
                .cloned()
                .unwrap_or(Value::Null),
        })
    }

    /// Evaluates the expression `js_condition` every 50 ms until it is
    /// truthy (awaiting promises) and returns its value; a throw counts as
    /// not yet (the element may not exist yet, the page may be between
    /// documents), except a `SyntaxError`, returned at once since no poll
    /// can cure it. After `timeout`, [`BrowserError::WaitTimeout`] with the
    /// last error.
    pub fn wait_for(&mut self, js_condition: &str, timeout: Duration) -> Result<Value> {
        const POLL: Duration = Duration::from_millis(50);
        let wrapped = format!(
            "(async () => {{ const value = await ({js_condition}\n); \
             return value ? {{ done: true, value }} : {{ done: false }}; }})()"
        );
        let deadline = Instant::now() + timeout;
        let mut last_error = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.eval_within(&wrapped, left.min(self.timeout)) {
                Ok(result) if result["done"] == true => {
                    return Ok(result.get("value").cloned().unwrap_or(Value::Null));
                }
                Ok(_) => {}
                Err(BrowserError::Exception { text }) if text.starts_with("SyntaxError") => {
                    return Err(BrowserError::Exception { text });
                }
                Err(e @ (BrowserError::Exception { .. } | BrowserError::Protocol { .. })) => {
                    last_error = Some(e.to_string());
                }
                Err(BrowserError::Timeout { .. }) => break,
                Err(e) => return Err(e),
            }
            let next = (Instant::now() + POLL).min(deadline);
            self.pump_until("events between polls", next, |_| false)?;
        }
        Err(BrowserError::WaitTimeout {
            condition: js_condition.to_owned(),
            after: timeout,
            last_error,
        })
    }

    /// Sets the viewport to `width` x `height` CSS pixels at scale 1.
    pub fn set_viewport(&mut self, width: u32, height: u32) -> Result<()> {
        self.command(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )?;
        Ok(())
    }

    /// Writes a PNG of the viewport to `path`.
    pub fn screenshot(&mut self, path: &Path) -> Result<()> {
        self.capture(path, json!({ "format": "png" }))
    }

    /// Writes a PNG of the whole document (beyond the viewport) to `path`.
    pub fn screenshot_full_page(&mut self, path: &Path) -> Result<()> {
        const METHOD: &str = "Page.getLayoutMetrics";
        let metrics = self.command(METHOD, json!({}))?;
        let size = &metrics["cssContentSize"];
        let (Some(width), Some(height)) = (size["width"].as_f64(), size["height"].as_f64()) else {
            return Err(unexpected(METHOD, &metrics));
        };
        self.capture(
            path,
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": { "x": 0, "y": 0, "width": width.ceil(), "height": height.ceil(), "scale": 1 },
            }),
        )
    }

    fn capture(&mut self, path: &Path, params: Value) -> Result<()> {
        const METHOD: &str = "Page.captureScreenshot";
        let reply = self.command(METHOD, params)?;
        let png = reply
            .get("data")
            .and_then(Value::as_str)
            .and_then(|data| data_encoding::BASE64.decode(data.as_bytes()).ok())
            .ok_or_else(|| unexpected(METHOD, &json!({ "keys": keys(&reply) })))?;
        std::fs::write(path, png).map_err(|source| BrowserError::File {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Selects `files` in the `<input type=file>` matching `css_selector`,
    /// as a user picking them would: the input fires `input` and `change`.
    pub fn set_files(&mut self, css_selector: &str, files: &[&Path]) -> Result<()> {
        let mut paths = Vec::with_capacity(files.len());
        for file in files {
            let absolute = std::fs::canonicalize(file).map_err(|source| BrowserError::File {
                path: file.to_path_buf(),
                source,
            })?;
            paths.push(absolute.to_string_lossy().into_owned());
        }
        let node = self.query_selector(css_selector)?;
        self.command(
            "DOM.setFileInputFiles",
            json!({ "files": paths, "nodeId": node }),
        )?;
        Ok(())
    }

    fn query_selector(&mut self, css_selector: &str) -> Result<u64> {
        let document = self.command("DOM.getDocument", json!({ "depth": 0 }))?;
        let root = document["root"]["nodeId"]
            .as_u64()
            .ok_or_else(|| unexpected("DOM.getDocument", &document))?;
        let found = self.command(
            "DOM.querySelector",
            json!({ "nodeId": root, "selector": css_selector }),
        )?;
        match found["nodeId"].as_u64() {
            Some(0) => Err(BrowserError::NoElement {
                selector: css_selector.to_owned(),
            }),
            Some(node) => Ok(node),
            None => Err(unexpected("DOM.querySelector", &found)),
        }
    }

    /// Presses and releases `key` (a DOM `KeyboardEvent.key`: a letter, a
    /// digit, `" "`, `Enter`, `Escape`, `Tab`, `Backspace`, `Delete`, the
    /// arrows, `Home`, `End`, `PageUp`, `PageDown`) on the focused element,
    /// as trusted keyboard events with the matching `code` and key code.
    pub fn press_key(&mut self, key: &str) -> Result<()> {
        let spec = KeySpec::of(key).ok_or_else(|| BrowserError::UnknownKey(key.to_owned()))?;
        let mut down = json!({
            "type": if spec.text.is_some() { "keyDown" } else { "rawKeyDown" },
            "key": key,
            "code": spec.code,
            "windowsVirtualKeyCode": spec.key_code,
            "nativeVirtualKeyCode": spec.key_code,
            "modifiers": spec.modifiers,
        });
        if let Some(text) = &spec.text {
            down["text"] = Value::from(text.as_str());
            down["unmodifiedText"] = Value::from(text.as_str());
        }
        self.command("Input.dispatchKeyEvent", down)?;
        self.command(
            "Input.dispatchKeyEvent",
            json!({
                "type": "keyUp",
                "key": key,
                "code": spec.code,
                "windowsVirtualKeyCode": spec.key_code,
                "nativeVirtualKeyCode": spec.key_code,
                "modifiers": spec.modifiers,
            }),
        )?;
        Ok(())
    }

    /// Clicks the centre of the element matching `css_selector` with the
    /// left mouse button, after scrolling it into view: trusted mouse
    /// events, so whatever lies on top at that point gets the click, as it
    /// would for a user.
    pub fn click(&mut self, css_selector: &str) -> Result<()> {
        let selector = Value::from(css_selector).to_string();
        let script = format!(
            "(() => {{ const element = document.querySelector({selector}); \
             if (!element) return null; \
             element.scrollIntoView({{ block: 'center', inline: 'center' }}); \
             const r = element.getBoundingClientRect(); \
             return [r.left + r.width / 2, r.top + r.height / 2, r.width, r.height]; }})()"
        );
        let found = self.eval(&script)?;
        let Some([x, y, width, height]) = found.as_array().and_then(|values| {
            let numbers: Vec<f64> = values.iter().filter_map(Value::as_f64).collect();
            <[f64; 4]>::try_from(numbers).ok()
        }) else {
            return Err(BrowserError::NoElement {
                selector: css_selector.to_owned(),
            });
        };
        if width <= 0.0 || height <= 0.0 {
            return Err(BrowserError::NotClickable {
                selector: css_selector.to_owned(),
                width,
                height,
            });
        }
        for (kind, buttons) in [("mouseMoved", 0), ("mousePressed", 1), ("mouseReleased", 0)] {
            let mut event = json!({ "type": kind, "x": x, "y": y, "buttons": buttons });
            if kind != "mouseMoved" {
                event["button"] = Value::from("left");
                event["clickCount"] = Value::from(1);
            }
            self.command("Input.dispatchMouseEvent", event)?;
        }
        Ok(())
    }

    /// Scrolls the page to `y` CSS pixels from the top.
    pub fn scroll_to(&mut self, y: f64) -> Result<()> {
        self.eval(&format!("window.scrollTo(0, {y})"))?;
        Ok(())
    }

    /// Brings the records up to date: events the page sent before this call
    /// arrive before the reply to a round trip through it. Best effort (a
    /// blocked or crashed page leaves the records as they are).
    fn settle(&mut self) {
        let _ = self.command("Runtime.evaluate", json!({ "expression": "0" }));
    }

    /// The page's console calls so far.
    pub fn console(&mut self) -> &[ConsoleMessage] {
        self.settle();
        &self.console
    }

    /// The exceptions the page did not catch so far.
    pub fn exceptions(&mut self) -> &[JsException] {
        self.settle();
        &self.exceptions
    }

    /// The dialogs the page opened so far (each answered at once: see
    /// [`Page::set_accept_dialogs`]).
    pub fn dialogs(&mut self) -> &[Dialog] {
        self.settle();
        &self.dialogs
    }

    /// The browser's log entries for the page so far, among them Content
    /// Security Policy violations.
    pub fn log_entries(&mut self) -> &[LogEntry] {
        self.settle();
        &self.log_entries
    }

    /// Forgets the console messages, exceptions, dialogs and log entries
    /// recorded so far.
    pub fn clear_records(&mut self) {
        self.settle();
        self.console.clear();
        self.exceptions.clear();
        self.dialogs.clear();
        self.log_entries.clear();
    }
}

fn string_field(reply: &Value, field: &str, method: &str) -> Result<String> {
    reply
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| unexpected(method, reply))
}

fn unexpected(method: &str, answer: &Value) -> BrowserError {
    BrowserError::Unexpected {
        method: method.to_owned(),
        answer: answer.to_string(),
    }
}

fn keys(value: &Value) -> Vec<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// An exception's text: the thrown value's description (an `Error`'s
/// message and stack) when there is one, else Chromium's summary.
fn exception_text(details: &Value) -> String {
    let exception = &details["exception"];
    exception["description"]
        .as_str()
        .or_else(|| exception["value"].as_str())
        .map(str::to_owned)
        .or_else(|| exception.get("value").map(Value::to_string))
        .or_else(|| details["text"].as_str().map(str::to_owned))
        .unwrap_or_else(|| details.to_string())
}

/// A console argument as text: strings as they are, other values as JSON,
/// objects by their description.
fn remote_text(argument: &Value) -> String {
    match argument.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(value) => value.to_string(),
        None => argument["unserializableValue"]
            .as_str()
            .or_else(|| argument["description"].as_str())
            .or_else(|| argument["type"].as_str())
            .unwrap_or_default()
            .to_owned(),
    }
}
