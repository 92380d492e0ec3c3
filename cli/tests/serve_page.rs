//! `kiln serve`'s page in a real headless Chromium: the gallery filling in
//! while an import runs, search, the detail view with a hostile prompt,
//! the keyboard, an upload during a batch import and a dead-letter retry.
//!
//! Screenshots of the gallery and the detail view are written to
//! `target/serve-screenshots/` (or `KILN_SCREENSHOTS`).

mod common;

use common::serve::{Server, form_encode};
use common::{json, kiln, samples_dir, search_ids, succeed};
use kiln_testkit::browser::{self, Browser, Page};
use kiln_testkit::corpus::{self, GeneratedKind};
use kiln_testkit::paint;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the page may take to show something; generous for a shared
/// machine, never a measure of speed.
const PAGE_DEADLINE: Duration = Duration::from_secs(60);

/// A prompt that would run script if the page put it into HTML.
const HOSTILE: &str = "<img src=x onerror=\"alert('img')\"><script>alert('script')</script> a \
                       <b>bold</b> lighthouse";

/// The browser, or `None` when the test is skipped (never under CI).
fn browser() -> Option<Browser> {
    browser::require()?;
    Some(Browser::launch().expect("headless Chromium starts"))
}

/// Takes a screenshot as `NAME.png`, with a JPEG copy (`NAME.jpg`) small
/// enough for the README.
fn screenshot(page: &mut Page, name: &str) {
    let png = screenshots().join(format!("{name}.png"));
    page.screenshot(&png).expect("screenshot");
    let image = image::open(&png).expect("the screenshot decodes");
    image
        .to_rgb8()
        .save(png.with_extension("jpg"))
        .expect("a JPEG copy");
}

fn screenshots() -> PathBuf {
    let dir = std::env::var_os("KILN_SCREENSHOTS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/serve-screenshots"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

/// Evaluates `js` and fails the test on a JS error.
fn eval(page: &mut Page, js: &str) -> Json {
    page.eval(js)
        .unwrap_or_else(|e| panic!("evaluating {js}: {e}"))
}

/// Waits until `js` is truthy; on failure says where the page was and what
/// it showed.
fn wait(page: &mut Page, js: &str) -> Json {
    match page.wait_for(js, PAGE_DEADLINE) {
        Ok(value) => value,
        Err(e) => {
            let state = page
                .eval("JSON.stringify([location.href, document.activeElement && document.activeElement.tagName, [...document.querySelectorAll('#grid .tile.current')].map(t => t.dataset.id), document.getElementById('view').innerText.slice(0, 600)])")
                .map_or_else(|e| e.to_string(), |v| v.to_string());
            let exceptions = page.exceptions().to_vec();
            let console = page.console().to_vec();
            panic!(
                "waiting for {js}: {e}\nthe page: {state}\nscript errors: {exceptions:?}\nconsole: {console:?}"
            )
        }
    }
}

/// The page ran no script of its own failing, showed no dialog, and the
/// browser reported no policy violation.
fn assert_clean(page: &mut Page) {
    let exceptions = page.exceptions().to_vec();
    assert!(exceptions.is_empty(), "script errors: {exceptions:?}");
    let dialogs = page.dialogs().to_vec();
    assert!(dialogs.is_empty(), "dialogs opened: {dialogs:?}");
    let violations: Vec<_> = page
        .log_entries()
        .iter()
        .filter(|e| e.source == "security")
        .cloned()
        .collect();
    assert!(violations.is_empty(), "policy violations: {violations:?}");
}

/// How many assets the gallery's summary line says it holds.
const SUMMARY_COUNT: &str =
    "parseInt((document.getElementById('summary')||{textContent:''}).textContent, 10) || 0";

/// Thumbnails in the grid that have actually loaded.
const LOADED_TILES: &str = "[...document.querySelectorAll('#grid .tile img')].filter(i => i.complete && i.naturalWidth > 0).length";

#[test]
fn the_gallery_fills_in_while_an_import_runs_without_a_reload() {
    let Some(mut chromium) = browser() else {
        return;
    };
    let store = tempfile::tempdir().expect("temp dir");
    let input = tempfile::tempdir().expect("temp dir");
    let count = 300;
    corpus::generated(input.path(), count, GeneratedKind::Small { side: 320 }).expect("corpus");
    let server = Server::start(store.path(), &[]);
    let page = chromium.page();
    page.goto(&format!("{}/", server.base()))
        .expect("the page loads");
    wait(page, "document.getElementById('summary') !== null");
    // Marks this document: a reload would lose it. Then samples, every
    // 50 ms, what the grid shows.
    eval(
        page,
        &format!(
            "window.kilnSamples = []; window.kilnSameDocument = true; \
             setInterval(() => window.kilnSamples.push([{SUMMARY_COUNT}, {LOADED_TILES}]), 50); true"
        ),
    );

    let mut import = kiln(store.path())
        .args(["import", "-q"])
        .arg(input.path())
        .spawn()
        .expect("kiln import starts");
    wait(
        page,
        &format!("{SUMMARY_COUNT} === {count} && {LOADED_TILES} > 0"),
    );
    let status = import.wait().expect("import ends");
    assert!(status.success(), "the import failed: {status}");

    assert_eq!(eval(page, "window.kilnSameDocument === true"), true);
    let samples = eval(page, "window.kilnSamples");
    let samples = samples.as_array().expect("samples");
    let partial = samples.iter().find(|s| {
        let shown = s[0].as_u64().unwrap_or(0);
        let loaded = s[1].as_u64().unwrap_or(0);
        shown > 0 && shown < count as u64 && loaded > 0
    });
    assert!(
        partial.is_some(),
        "the grid never showed thumbnails of a part of the import: {samples:?}"
    );

    // Virtualized: a few screens of tiles, never all of them, also at the
    // bottom.
    let tiles = eval(page, "document.querySelectorAll('#grid .tile').length");
    assert!(
        tiles.as_u64().unwrap_or(0) < 150,
        "{tiles} tiles in the DOM"
    );
    screenshot(page, "gallery");
    // Every asset is in the grid, none missed while they arrived out of
    // order: scroll through and collect what is drawn.
    let collect = format!(
        "(async () => {{ const seen = new Set(); \
         for (let y = 0; y <= document.body.scrollHeight; y += 400) {{ \
           window.scrollTo(0, y); await new Promise(r => setTimeout(r, 40)); \
           document.querySelectorAll('#grid .tile').forEach(t => seen.add(t.dataset.id)); }} \
         return seen.size === {count} ? seen.size : false; }})()"
    );
    wait(page, &format!("{SUMMARY_COUNT} === {count}"));
    let drawn = wait(page, &collect);
    assert_eq!(drawn, count);
    eval(page, "window.scrollTo(0, document.body.scrollHeight); true");
    let oldest = server.get_json("/api/assets?limit=1&sort=date&cursor=i2")["assets"][0]["id"]
        .as_u64()
        .expect("the oldest asset");
    wait(
        page,
        &format!("document.querySelector('#grid .tile[data-id=\"{oldest}\"] img') !== null"),
    );
    let tiles = eval(page, "document.querySelectorAll('#grid .tile').length");
    assert!(
        tiles.as_u64().unwrap_or(0) < 150,
        "{tiles} tiles at the bottom"
    );
    assert_clean(page);
}

/// A store with the samples imported (see [`library`]), the samples'
/// folder, and `kiln serve` on it.
fn served_library() -> (tempfile::TempDir, tempfile::TempDir, Server) {
    let store = tempfile::tempdir().expect("temp dir");
    let dir = library(store.path());
    let server = Server::start(store.path(), &[]);
    (store, dir, server)
}

/// A folder with the samples (but the corrupt one) and one file whose name and prompt are
/// hostile, imported before the server starts.
fn library(store: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(samples_dir()).expect("samples") {
        let path = entry.expect("entry").path();
        if path
            .file_name()
            .is_some_and(|n| n == "corrupt-truncated.png")
        {
            continue;
        }
        std::fs::copy(&path, dir.path().join(path.file_name().expect("name"))).expect("copy");
    }
    paint::write_png(
        &dir.path().join("<img src=x onerror=alert(1)><b>bold.png"),
        &paint::gradient(200, 150),
        Some(&format!(
            "{HOSTILE}\nNegative prompt: <script>alert('neg')</script>\nSteps: 31, Sampler: Euler a, \
             CFG scale: 6.5, Seed: 4242, Size: 200x150, Model: hostile<i>model</i>"
        )),
    );
    succeed(kiln(store).args(["import", "-q"]).arg(dir.path()));
    dir
}

fn asset_id(store: &Path, file: &Path) -> u64 {
    let shown = json(store, &["show", &file.to_string_lossy()]);
    shown["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("no id in {shown}"))
}

/// Types `query` into the search box and submits it with Enter.
fn search(page: &mut Page, query: &str) {
    page.click("#q").expect("the search box");
    let set = format!(
        "(() => {{ const q = document.getElementById('q'); q.value = {}; q.focus(); return true; }})()",
        serde_json::to_string(query).expect("string")
    );
    eval(page, &set);
    page.press_key("Enter").expect("Enter");
    let expected = serde_json::to_string(&format!("?q={}", form_encode(query))).expect("string");
    wait(
        page,
        &format!(
            "location.search.startsWith({expected}) && document.getElementById('summary') !== null && document.getElementById('summary').textContent.length > 0"
        ),
    );
}

/// True once the detail view of asset `id` is drawn.
fn detail_of(id: u64) -> String {
    format!(
        "location.pathname === '/asset/{id}' && document.querySelector('.detail[data-asset=\"{id}\"] #prompt') !== null"
    )
}

/// The asset ids a script evaluated in the page gives (an array).
fn ids_from(page: &mut Page, script: &str) -> Vec<u64> {
    eval(page, script)
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(Json::as_u64)
        .collect()
}

fn ids_in_grid(page: &mut Page) -> Vec<u64> {
    ids_from(
        page,
        "[...document.querySelectorAll('#grid .tile')].sort((a, b) => a.dataset.index - b.dataset.index).map(t => Number(t.dataset.id))",
    )
}

#[test]
fn search_detail_keyboard_and_hostile_text_in_the_page() {
    let Some(mut chromium) = browser() else {
        return;
    };
    let (store, dir, server) = served_library();
    let page = chromium.page();
    page.goto(&format!("{}/", server.base()))
        .expect("the page loads");
    wait(page, &format!("{LOADED_TILES} > 0"));

    // The search box gives what `kiln search` gives, in the same order.
    for query in ["lighthouse", "steps:>=30", "forest -variation", "seed:4242"] {
        search(page, query);
        let (expected, cli) = search_ids(store.path(), query, 100);
        assert!(!expected.is_empty(), "{query} matches nothing: {cli}");
        wait(page, &format!("{SUMMARY_COUNT} === {}", expected.len()));
        wait(
            page,
            &format!(
                "document.querySelectorAll('#grid .tile').length === {}",
                expected.len()
            ),
        );
        assert_eq!(
            ids_in_grid(page),
            expected,
            "the page's results for {query}"
        );
    }

    // The detail of an A1111 file: prompt and parameters as `show` has them.
    let forest = dir.path().join("a1111-forest.png");
    let id = asset_id(store.path(), &forest);
    let shown = json(store.path(), &["show", &id.to_string()]);
    let generation = &shown["generation"];
    page.goto(&format!("{}/asset/{id}", server.base()))
        .expect("the detail page loads");
    wait(page, &detail_of(id));
    assert_eq!(
        eval(page, "document.getElementById('prompt').textContent"),
        generation["positive_prompt"]
    );
    let params = eval(page, "document.getElementById('params').textContent");
    let params = params.as_str().expect("text");
    for key in ["seed", "steps", "model"] {
        let value = &generation[key];
        let text = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        assert!(params.contains(&text), "{key} {text} not in {params}");
    }
    assert_eq!(
        eval(page, "document.getElementById('copy-prompt') !== null"),
        true
    );
    assert_eq!(
        eval(page, "document.getElementById('copy-params') !== null"),
        true
    );
    wait(page, "document.getElementById('proxy').naturalWidth > 0");
    screenshot(page, "detail");

    // Arrows move through the listing, Escape goes back to the grid.
    let listing = server.get_json("/api/assets?limit=100");
    let order: Vec<u64> = listing["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .filter_map(|a| a["id"].as_u64())
        .collect();
    let at = order.iter().position(|&a| a == id).expect("listed");
    assert!(at > 0 && at + 1 < order.len(), "the asset has neighbours");
    // Each key waits for the view it leads to: a key pressed while the next
    // asset loads acts on the one still shown.
    page.press_key("ArrowRight").expect("key");
    wait(page, &detail_of(order[at + 1]));
    page.press_key("ArrowLeft").expect("key");
    wait(page, &detail_of(id));
    page.press_key("Escape").expect("key");
    wait(
        page,
        "location.pathname === '/' && document.getElementById('grid') !== null",
    );
    // Back in the grid, the whole listing is there and the asset just seen
    // is the current one; two steps right and Enter open the one two on.
    wait(
        page,
        &format!("document.querySelector('#grid .tile.current[data-id=\"{id}\"]') !== null"),
    );
    wait(page, &format!("{SUMMARY_COUNT} === {}", order.len()));
    assert!(at + 2 < order.len(), "two more assets after {id}");
    page.press_key("ArrowRight").expect("key");
    page.press_key("ArrowRight").expect("key");
    wait(
        page,
        &format!(
            "document.querySelector('#grid .tile.current[data-id=\"{}\"]') !== null",
            order[at + 2]
        ),
    );
    page.press_key("Enter").expect("key");
    wait(
        page,
        &format!("location.pathname === '/asset/{}'", order[at + 2]),
    );

    // The hostile file: its name and prompt are shown as text.
    let hostile = dir.path().join("<img src=x onerror=alert(1)><b>bold.png");
    let bad = asset_id(store.path(), &hostile);
    page.goto(&format!("{}/asset/{bad}", server.base()))
        .expect("the detail page loads");
    wait(page, "document.getElementById('prompt') !== null");
    assert_eq!(
        eval(page, "document.getElementById('prompt').textContent"),
        HOSTILE
    );
    assert_eq!(
        eval(page, "document.getElementById('negative').textContent"),
        "<script>alert('neg')</script>"
    );
    assert_eq!(
        eval(page, "document.getElementById('title').textContent"),
        "<img src=x onerror=alert(1)><b>bold.png"
    );
    assert_eq!(
        eval(
            page,
            "document.querySelectorAll('main b, main script, main img[src=\"x\"], main i').length"
        ),
        0
    );
    search(page, "lighthouse");
    wait(
        page,
        &format!("document.querySelector('#grid .tile[data-id=\"{bad}\"]') !== null"),
    );
    assert_eq!(
        eval(
            page,
            "document.querySelectorAll('main b, main script, main img[src=\"x\"]').length"
        ),
        0
    );
    // Give an injected handler the time to fire before looking.
    std::thread::sleep(Duration::from_millis(300));
    eval(page, "true");
    assert_clean(page);
}

#[test]
fn an_upload_during_a_batch_import_is_browsable_before_the_batch_ends() {
    let Some(mut chromium) = browser() else {
        return;
    };
    let store = tempfile::tempdir().expect("temp dir");
    let watched = tempfile::tempdir().expect("temp dir");
    let batch = tempfile::tempdir().expect("temp dir");
    let count = 400;
    corpus::generated(batch.path(), count, GeneratedKind::Small { side: 384 }).expect("corpus");
    let upload = tempfile::tempdir().expect("temp dir");
    let urgent = upload.path().join("urgent render.png");
    paint::write_png(
        &urgent,
        &paint::halves(300, 200, [200, 30, 30], [20, 20, 220]),
        Some("an urgent red and blue render\nSteps: 12, Seed: 77, Size: 300x200"),
    );

    let server = Server::start(store.path(), &[watched.path().as_os_str()]);
    let page = chromium.page();
    page.goto(&format!("{}/", server.base()))
        .expect("the page loads");
    wait(page, "document.getElementById('summary') !== null");
    let mut import = kiln(store.path())
        .args(["import", "-q", "--priority", "batch"])
        .arg(batch.path())
        .spawn()
        .expect("kiln import starts");
    let root = std::fs::canonicalize(batch.path()).expect("batch folder");
    let root = root.to_string_lossy().into_owned();
    // Files of the batch that are browsable, from the page's progress feed.
    let batch_done = |p: &Json| {
        p["imports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["root"] == root.as_str())
            .and_then(|i| i.pointer("/tiers/browsable/done"))
            .and_then(Json::as_u64)
    };
    server.wait_json("/api/progress", "the batch under way", |p| {
        batch_done(p).is_some_and(|n| n > 0)
    });

    page.set_files("#upload", &[&urgent]).expect("file chosen");
    let seen = server.wait_json(
        "/api/assets?q=urgent&sort=date&limit=5",
        "the upload becoming an asset",
        |a| a["total"].as_u64().unwrap_or(0) > 0,
    );
    let progress = server.get_json("/api/progress");
    let uploaded = &seen["assets"][0];
    assert_eq!(uploaded["name"], "urgent render.png", "{seen}");
    assert!(
        uploaded["thumbnail_url"].is_string(),
        "the upload is browsable: {uploaded}"
    );
    assert!(
        batch_done(&progress).is_some_and(|n| n < count as u64),
        "the batch had ended before the upload was browsable: {progress}"
    );
    // Saved under the watched folder, byte for byte.
    let saved = watched.path().join("urgent render.png");
    assert_eq!(
        std::fs::read(&saved).expect("the saved upload"),
        std::fs::read(&urgent).expect("the original")
    );
    // The page tells, and the grid shows it without a reload.
    wait(
        page,
        "[...document.querySelectorAll('#toasts *')].some(t => t.textContent.includes('Added 1 image'))",
    );
    let id = uploaded["id"].as_u64().expect("id");
    wait(
        page,
        &format!("document.querySelector('#grid .tile[data-id=\"{id}\"] img') !== null"),
    );
    let status = import.wait().expect("import ends");
    assert!(status.success(), "the batch failed: {status}");
    assert_clean(page);
}

#[test]
fn a_dead_letter_is_retried_from_the_page() {
    let Some(mut chromium) = browser() else {
        return;
    };
    let store = tempfile::tempdir().expect("temp dir");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("half-written.png");
    std::fs::copy(samples_dir().join("corrupt-truncated.png"), &file).expect("copy");
    let out = kiln(store.path())
        .args(["import", "-q"])
        .arg(&file)
        .output()
        .expect("kiln import runs");
    assert_eq!(
        out.status.code(),
        Some(3),
        "the import reports the dead file"
    );
    let server = Server::start(store.path(), &[]);
    let page = chromium.page();
    page.goto(&format!("{}/failed", server.base()))
        .expect("the page loads");
    wait(
        page,
        "document.querySelector('#failed button.retry') !== null",
    );
    let row = eval(
        page,
        "document.querySelector('#failed tr[data-job]').textContent",
    );
    assert!(
        row.as_str().is_some_and(|r| r.contains("half-written.png")),
        "{row}"
    );
    wait(
        page,
        "document.getElementById('nav-failed').textContent === 'Failed1'",
    );

    // The file is whole now; Retry runs the job again and it succeeds.
    paint::write_png(&file, &paint::gradient(120, 90), None);
    page.click("#failed button.retry").expect("Retry");
    server.wait_json("/api/dead", "the dead letter leaving", |d| d["total"] == 0);
    let asset = server.wait_json("/api/assets?limit=5", "the retried file browsable", |a| {
        a["assets"][0]["thumbnail_url"].is_string()
    });
    assert_eq!(asset["assets"][0]["name"], "half-written.png");
    wait(
        page,
        "document.querySelector('#failed button.retry') === null",
    );
    assert_clean(page);
}

#[test]
fn the_status_and_sessions_views_show_the_engine_and_lead_into_the_grid() {
    let Some(mut chromium) = browser() else {
        return;
    };
    let (store, _dir, server) = served_library();
    let page = chromium.page();

    page.goto(&format!("{}/status", server.base()))
        .expect("the status view loads");
    wait(page, "document.getElementById('status') !== null");
    let text = eval(page, "document.getElementById('status').textContent");
    let text = text.as_str().expect("text");
    for expected in [
        "browsable",
        "searchable",
        "enriched",
        "Queue by priority and tier",
        "Jobs by stage",
        "thumbnail",
        "Mean job latency",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    let files = server.get_json("/api/status")["files"]
        .as_u64()
        .expect("files");
    assert!(
        text.contains(&format!("{files} of {files} files")),
        "the tiers count files:\n{text}"
    );
    screenshot(page, "status");

    page.goto(&format!("{}/sessions", server.base()))
        .expect("the sessions view loads");
    wait(
        page,
        "document.querySelectorAll('#sessions a.session').length > 0",
    );
    let sessions = server.get_json("/api/sessions");
    let listed = eval(
        page,
        "document.querySelectorAll('#sessions a.session').length",
    );
    assert_eq!(listed, sessions["total"]);
    let first = sessions["sessions"][0]["id"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| sessions["sessions"][0]["id"].to_string());
    let expected = json(
        store.path(),
        &["search", &format!("session:{first}"), "--limit", "100"],
    );
    page.click("#sessions a.session").expect("a session");
    wait(
        page,
        &format!(
            "document.getElementById('q').value === {} && {SUMMARY_COUNT} === {}",
            serde_json::to_string(&format!("session:{first}")).expect("string"),
            expected["total"]
        ),
    );
    assert_clean(page);
}

#[test]
fn a_video_plays_on_its_page_and_seeks() {
    let Some(mut browser) = browser() else {
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let folder = work.path().join("in");
    std::fs::create_dir_all(&folder).expect("folder");
    let video = folder.join("AnimateDiff_00001.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-nostdin", "-f", "lavfi"])
        .args(["-i", "testsrc=size=320x240:rate=8", "-t", "2"])
        .args(["-pix_fmt", "yuv420p"])
        .arg(&video)
        .status();
    if !made.is_ok_and(|s| s.success()) {
        assert!(
            std::env::var("CI").is_err(),
            "ffmpeg is needed under CI (.ci/run installs it)"
        );
        eprintln!("ffmpeg is not installed: skipped");
        return;
    }
    let store = work.path().join("store");
    succeed(kiln(&store).args(["import", "-q"]).arg(&folder));
    let id = json(&store, &["show", &video.to_string_lossy()])["id"]
        .as_u64()
        .expect("the video's id");
    let server = Server::start(&store, &[]);
    let page = browser.page();
    page.goto(&format!("{}/asset/{id}", server.base()))
        .expect("the video's page");
    // Its metadata loads from the original file (the policy lets media in).
    wait(
        page,
        "(() => { const v = document.querySelector('#video'); return v && v.readyState >= 1; })()",
    );
    let duration = eval(page, "document.querySelector('#video').duration");
    assert!(
        duration.as_f64().is_some_and(|d| (d - 2.0).abs() < 0.2),
        "duration {duration}"
    );
    assert!(
        eval(page, "document.querySelector('#video').poster")
            .as_str()
            .is_some_and(|p| p.contains("/proxy/")),
        "the frame is the poster"
    );
    let text = eval(page, "document.getElementById('view').innerText");
    assert!(
        text.as_str()
            .is_some_and(|t| t.contains("2.0 s · 16 frames · 8 fps")),
        "the page states the video's length: {text}"
    );
    // Seeking asks for byte ranges of the file.
    eval(page, "document.querySelector('#video').currentTime = 1.5");
    wait(
        page,
        "(() => { const v = document.querySelector('#video'); return !v.seeking && v.readyState >= 2 && Math.abs(v.currentTime - 1.5) < 0.2; })()",
    );
    screenshot(page, "video");
    assert_clean(page);
}

/// Clicks the element matching `selector` holding ctrl (`2`) or shift
/// (`8`), as trusted mouse events.
fn click_with(page: &mut Page, selector: &str, modifiers: u32) {
    let selector_text = serde_json::to_string(selector).expect("string");
    let at = eval(
        page,
        &format!(
            "(() => {{ const e = document.querySelector({selector_text}); e.scrollIntoView({{block: 'center'}}); \
             const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
        ),
    );
    let (x, y) = (at[0].as_f64().expect("x"), at[1].as_f64().expect("y"));
    for (kind, buttons) in [("mouseMoved", 0), ("mousePressed", 1), ("mouseReleased", 0)] {
        let mut event = serde_json::json!({"type": kind, "x": x, "y": y, "buttons": buttons, "modifiers": modifiers});
        if kind != "mouseMoved" {
            event["button"] = "left".into();
            event["clickCount"] = 1.into();
        }
        page.command("Input.dispatchMouseEvent", event)
            .expect("mouse event");
    }
}

/// Sets the focused text box to `text`, as typing would leave it.
/// Waits for the text box `id` to have the focus (a popover just opened),
/// puts `text` in it and presses Enter.
fn enter_in(page: &mut Page, id: &str, text: &str) {
    wait(
        page,
        &format!("document.activeElement && document.activeElement.id === '{id}'"),
    );
    type_into(page, &format!("#{id}"), text);
    page.press_key("Enter").expect("Enter");
}

fn type_into(page: &mut Page, selector: &str, text: &str) {
    let set = format!(
        "(() => {{ const e = document.querySelector({}); e.focus(); e.value = {}; return document.activeElement === e; }})()",
        serde_json::to_string(selector).expect("string"),
        serde_json::to_string(text).expect("string")
    );
    assert_eq!(eval(page, &set), true, "{selector} takes the focus");
}

#[test]
fn curation_with_the_keyboard_and_a_selection_of_tiles() {
    let Some(mut chromium) = browser() else {
        return;
    };
    let (store, dir, server) = served_library();
    let page = chromium.page();

    // The detail view: 4 rates, F marks a favorite, T opens the tag editor;
    // keys typed into it are text, not commands.
    let id = asset_id(store.path(), &dir.path().join("a1111-forest.png"));
    page.goto(&format!("{}/asset/{id}", server.base()))
        .expect("the detail page loads");
    wait(page, &detail_of(id));
    wait(page, "document.getElementById('stars') !== null");
    page.press_key("4").expect("key");
    wait(
        page,
        "document.getElementById('stars').dataset.rating === '4'",
    );
    assert_eq!(
        json(store.path(), &["show", &id.to_string()])["curation"]["rating"],
        4
    );
    page.press_key("F").expect("key");
    wait(
        page,
        "document.getElementById('favorite').classList.contains('on')",
    );
    page.press_key("t").expect("key");
    wait(
        page,
        "document.activeElement && document.activeElement.id === 'tag-input'",
    );
    for key in ["h", "e", "r", "o", "5", "f"] {
        page.press_key(key).expect("key");
    }
    assert_eq!(
        eval(page, "document.getElementById('tag-input').value"),
        "hero5f"
    );
    page.press_key("Enter").expect("Enter");
    wait(
        page,
        "document.querySelector('#tags .chip[data-tag=\"hero5f\"]') !== null && document.querySelector('#tag-chips .chip[data-tag=\"hero5f\"]') !== null",
    );
    screenshot(page, "curation-detail");
    no_null_shown(page);
    page.press_key("Escape").expect("Escape");
    wait(page, "document.getElementById('tagger') === null");
    let shown = json(store.path(), &["show", &id.to_string()]);
    assert_eq!(shown["curation"]["rating"], 4, "typing `5` did not rate");
    assert_eq!(
        shown["curation"]["favorite"], true,
        "typing `f` did not unmark"
    );
    assert_eq!(shown["curation"]["tags"], serde_json::json!(["hero5f"]));
    // 0 clears the rating.
    page.press_key("0").expect("key");
    wait(
        page,
        "document.getElementById('stars').dataset.rating === '0'",
    );
    page.press_key("3").expect("key");
    wait(
        page,
        "document.getElementById('stars').dataset.rating === '3'",
    );

    // The grid: the rated tile carries its badge; ctrl-click one tile and
    // shift-click two on select three, and T tags all three at once.
    page.goto(&format!("{}/", server.base()))
        .expect("the gallery loads");
    wait(page, &format!("{LOADED_TILES} > 3"));
    wait(
        page,
        &format!(
            "(document.querySelector('#grid .tile[data-id=\"{id}\"] .badge') || {{}}).textContent === '★3 ♥'"
        ),
    );
    let order = ids_in_grid(page);
    let three = [order[1], order[2], order[3]];
    click_with(page, &format!("#grid .tile[data-id=\"{}\"]", three[0]), 2);
    click_with(page, &format!("#grid .tile[data-id=\"{}\"]", three[2]), 8);
    wait(
        page,
        "(document.getElementById('selcount') || {}).textContent === '3 assets selected'",
    );
    assert_eq!(
        eval(page, "location.pathname"),
        "/",
        "a modified click opens nothing"
    );
    let marked = ids_of_selected(page);
    let mut expected = three.to_vec();
    expected.sort_unstable();
    assert_eq!(marked, expected);
    // A ctrl-click takes one out and puts it back.
    click_with(page, &format!("#grid .tile[data-id=\"{}\"]", three[1]), 2);
    wait(
        page,
        "document.getElementById('selcount').textContent === '2 assets selected'",
    );
    click_with(page, &format!("#grid .tile[data-id=\"{}\"]", three[1]), 2);
    wait(
        page,
        "document.getElementById('selcount').textContent === '3 assets selected'",
    );
    screenshot(page, "curation-selection");
    no_null_shown(page);
    page.press_key("T").expect("key");
    enter_in(page, "tag-input", "client pick");
    wait(
        page,
        "[...document.querySelectorAll('#tag-chips .chip')].some(c => c.textContent.startsWith('client pick 3/3'))",
    );
    screenshot(page, "curation-tag-editor");
    no_null_shown(page);
    page.press_key("Escape").expect("Escape");
    wait(page, "document.getElementById('tagger') === null");
    page.press_key("5").expect("key");
    wait(
        page,
        &format!(
            "((document.querySelector('#grid .tile[data-id=\"{}\"] .badge') || {{}}).textContent || '').startsWith('★5')",
            three[2]
        ),
    );
    let (tagged, _) = search_ids(store.path(), "tag:\"client pick\"", 100);
    let mut tagged = tagged;
    tagged.sort_unstable();
    assert_eq!(tagged, expected, "the CLI finds the three tagged");
    let (five, _) = search_ids(store.path(), "rating:5", 100);
    let mut five = five;
    five.sort_unstable();
    assert_eq!(five, expected, "one key rated all three");
    // Escape clears the selection.
    page.press_key("Escape").expect("Escape");
    wait(page, "document.getElementById('selbar').hidden");
    assert_eq!(
        eval(
            page,
            "document.querySelectorAll('#grid .tile.selected').length"
        ),
        0
    );

    // A curation query in the search box, fresh after a change made here.
    search(page, "rating:>=5");
    wait(page, &format!("{SUMMARY_COUNT} === 3"));
    page.click(&format!("#grid .tile[data-id=\"{}\"]", three[0]))
        .expect("a tile");
    wait(
        page,
        &format!("location.pathname === '/asset/{}'", three[0]),
    );
    wait(page, "document.getElementById('stars') !== null");
    page.press_key("1").expect("key");
    wait(
        page,
        "document.getElementById('stars').dataset.rating === '1'",
    );
    page.press_key("Escape").expect("Escape");
    wait(
        page,
        &format!("location.search.startsWith('?q=') && {SUMMARY_COUNT} === 2"),
    );
    wait(
        page,
        &format!(
            "document.querySelector('#grid .tile[data-id=\"{}\"]') === null && document.querySelectorAll('#grid .tile').length === 2",
            three[0]
        ),
    );
    assert_clean(page);
}

/// No empty value reached the page as the text `null`.
fn no_null_shown(page: &mut Page) {
    let text = eval(page, "document.body.innerText");
    assert!(
        !text.as_str().unwrap_or_default().contains("null"),
        "`null` shown: {text}"
    );
}

/// A collection's members in order, as the CLI reads them from the store.
fn members_in_store(store: &std::path::Path, name: &str) -> Vec<u64> {
    json(store, &["collection", "show", name])["assets"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["id"].as_u64())
        .collect()
}

fn ids_of_selected(page: &mut Page) -> Vec<u64> {
    ids_from(
        page,
        "[...document.querySelectorAll('#grid .tile.selected')].map(t => Number(t.dataset.id)).sort((a, b) => a - b)",
    )
}

#[test]
fn collections_and_the_best_of_a_session_in_the_page() {
    let Some(mut chromium) = browser() else {
        return;
    };
    let (store, _dir, server) = served_library();
    let page = chromium.page();
    page.goto(&format!("{}/", server.base()))
        .expect("the gallery loads");
    wait(page, &format!("{LOADED_TILES} > 3"));
    let order = ids_in_grid(page);
    // Select two, add them to a new collection from the bar.
    click_with(page, &format!("#grid .tile[data-id=\"{}\"]", order[2]), 2);
    click_with(page, &format!("#grid .tile[data-id=\"{}\"]", order[0]), 2);
    wait(
        page,
        "(document.getElementById('selcount') || {}).textContent === '2 assets selected'",
    );
    page.click("#sel-collect").expect("Add to collection");
    enter_in(page, "collection-input", "Client <b>A</b>");
    wait(
        page,
        "[...document.querySelectorAll('#toasts *')].some(t => t.textContent.includes('Added 2 assets to “Client <b>A</b>”'))",
    );
    let members = members_in_store(store.path(), "client <b>a</b>");
    assert_eq!(
        members,
        vec![order[2], order[0]],
        "in the order they were selected"
    );

    // The collections view, and one collection in the grid.
    page.click("#nav-collections").expect("the nav link");
    wait(
        page,
        "document.querySelectorAll('#collections a.collection').length === 1",
    );
    assert_eq!(
        eval(
            page,
            "document.querySelector('#collections a.collection b').textContent"
        ),
        "Client <b>A</b>"
    );
    assert_eq!(
        eval(page, "document.querySelectorAll('main b b').length"),
        0
    );
    wait(
        page,
        "document.querySelector('#collections img').naturalWidth > 0",
    );
    screenshot(page, "collections");
    no_null_shown(page);
    page.click("#collections a.collection")
        .expect("the collection");
    wait(
        page,
        "document.querySelectorAll('#grid .tile').length === 2",
    );
    assert_eq!(ids_in_grid(page), members);
    // Moved to the start from the collection view's bar.
    click_with(page, &format!("#grid .tile[data-id=\"{}\"]", members[1]), 2);
    page.click("#sel-move-start").expect("Move to start");
    wait(
        page,
        &format!(
            "[...document.querySelectorAll('#grid .tile')].map(t => Number(t.dataset.id)).join() === '{},{}'",
            members[1], members[0]
        ),
    );
    let moved = members_in_store(store.path(), "client <b>a</b>");
    assert_eq!(
        moved,
        vec![members[1], members[0]],
        "the store has the new order"
    );
    screenshot(page, "collection-moved");
    // The collection, shown again in its new order, starts with nothing
    // selected.
    assert_eq!(
        eval(
            page,
            "document.querySelectorAll('#grid .tile.selected').length"
        ),
        0
    );
    // Removed from the collection view's bar.
    click_with(page, &format!("#grid .tile[data-id=\"{}\"]", members[0]), 2);
    page.click("#sel-uncollect")
        .expect("Remove from collection");
    wait(
        page,
        "document.querySelectorAll('#grid .tile').length === 1",
    );
    assert_eq!(ids_in_grid(page), vec![members[1]]);
    assert_eq!(
        json(store.path(), &["collection", "show", "client <b>a</b>"])["members"],
        1
    );

    // Renamed, then deleted, from the collection's own view.
    page.click("#collection-rename").expect("Rename");
    enter_in(page, "rename-input", "Client B");
    wait(
        page,
        "new URLSearchParams(location.search).get('name') === 'Client B' && document.querySelector('.summary').textContent.includes('“Client B”')",
    );
    assert_eq!(
        json(store.path(), &["collection", "show", "client b"])["members"],
        1
    );
    page.click("#collection-delete").expect("Delete");
    wait(page, "document.getElementById('delete-confirm') !== null");
    page.press_key("Escape").expect("Escape");
    wait(page, "document.getElementById('deleter') === null");
    page.click("#collection-delete").expect("Delete, again");
    wait(page, "document.getElementById('delete-confirm') !== null");
    screenshot(page, "collection-delete");
    page.click("#delete-confirm").expect("confirm");
    wait(
        page,
        "location.pathname === '/collections' && !location.search && document.querySelectorAll('#collections a.collection').length === 0",
    );
    assert_eq!(
        json(store.path(), &["collection", "list"])["total"],
        0,
        "the collection is gone"
    );
    assert_eq!(
        json(store.path(), &["show", &members[1].to_string()])["id"],
        members[1],
        "its assets stay"
    );

    // The best of a session: the cull proposal, applied from the page.
    page.click("#nav-sessions").expect("the nav link");
    wait(page, "document.querySelector('#sessions a.best') !== null");
    let session = eval(
        page,
        "document.querySelector('#sessions a.best').dataset.session",
    );
    let session = session.as_str().expect("a session id").to_owned();
    page.click("#sessions a.best")
        .expect("Best of this session");
    wait(page, "document.getElementById('cull') !== null");
    let plan = server.get_json(&format!("/api/cull?session={session}&keep=3"));
    let shown_rejects = eval(
        page,
        "[...document.querySelectorAll('#cull-reject .tile')].map(t => Number(t.dataset.id))",
    );
    let plan_rejects: Vec<u64> = plan["reject"]
        .as_array()
        .expect("rejects")
        .iter()
        .filter_map(|a| a["id"].as_u64())
        .collect();
    assert_eq!(
        shown_rejects
            .as_array()
            .expect("ids")
            .iter()
            .filter_map(Json::as_u64)
            .collect::<Vec<_>>(),
        plan_rejects
    );
    // Keep one instead: more are proposed.
    type_into(page, "#keep", "1");
    eval(
        page,
        "document.getElementById('keep').dispatchEvent(new Event('change')); true",
    );
    wait(
        page,
        "location.search === '?keep=1' && document.querySelectorAll('#cull-keep .tile').length === 1",
    );
    wait(
        page,
        "[...document.querySelectorAll('#cull img')].every(i => i.complete && i.naturalWidth > 0)",
    );
    screenshot(page, "best-of-session");
    no_null_shown(page);
    let rejects = eval(
        page,
        "[...document.querySelectorAll('#cull-reject .tile')].map(t => Number(t.dataset.id)).sort((a, b) => a - b)",
    );
    let mut rejects: Vec<u64> = rejects
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(Json::as_u64)
        .collect();
    assert!(!rejects.is_empty(), "a session of two or more rejects one");
    page.click("#apply-cull").expect("apply");
    wait(
        page,
        "[...document.querySelectorAll('#toasts *')].some(t => t.textContent.includes('“rejected”'))",
    );
    wait(
        page,
        "document.querySelectorAll('#cull-reject .tile.rejected').length > 0 && document.getElementById('apply-cull').disabled",
    );
    rejects.sort_unstable();
    let (tagged, _) = search_ids(store.path(), "tag:rejected", 100);
    let mut tagged = tagged;
    tagged.sort_unstable();
    assert_eq!(
        tagged, rejects,
        "the rest of the session is tagged, nothing else"
    );
    screenshot(page, "best-of-session-applied");
    assert_clean(page);
}
