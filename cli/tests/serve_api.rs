//! `kiln serve`'s JSON API and its defences, over plain HTTP: paging by
//! cursor, the same JSON as the CLI, content-addressed images, Prometheus
//! metrics, coalesced progress events, uploads (names, collisions,
//! non-images, a client that goes away) and what the server refuses.

mod common;

use common::serve::{DEADLINE, Server, form_encode, multipart, request, same_origin};
use common::{json, kiln, run, samples_dir, search_ids, succeed};
use kiln_testkit::corpus::{self, GeneratedKind};
use kiln_testkit::paint;
use serde_json::Value as Json;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Imports the samples; one of them is corrupt, so the import says so.
fn import_samples(store: &std::path::Path) {
    let out = run(kiln(store).args(["import", "-q"]).arg(samples_dir()));
    assert_eq!(out.status.code(), Some(3), "{out:?}");
}

fn ids(page: &Json) -> Vec<u64> {
    page["assets"]
        .as_array()
        .unwrap_or_else(|| panic!("no assets in {page}"))
        .iter()
        .filter_map(|a| a["id"].as_u64())
        .collect()
}

/// Every asset of a listing, page by page through `next_cursor`.
fn walk(server: &Server, query: &str, limit: usize) -> Vec<u64> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/assets?{query}&limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = server.get_json(&path);
        let got = ids(&page);
        assert!(got.len() <= limit, "{path} gave {} assets", got.len());
        out.extend(got);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return out,
        }
        assert!(out.len() < 10_000, "the cursor never ends");
    }
}

#[test]
fn the_api_pages_by_cursor_and_says_what_the_cli_says() {
    let store = tempfile::tempdir().expect("temp dir");
    import_samples(store.path());
    let server = Server::start(store.path(), &[]);

    // Newest first, by path, by score and for a query: paging by 3 gives
    // the same as one page.
    for query in [
        "sort=date",
        "sort=path",
        "sort=score",
        "q=forest",
        "q=steps%3A%3E%3D20&sort=score",
    ] {
        let whole = ids(&server.get_json(&format!("/api/assets?{query}&limit=1000")));
        assert!(!whole.is_empty(), "{query} lists nothing");
        assert_eq!(walk(&server, query, 3), whole, "paging {query}");
    }
    // A cursor after the last possible hit is an empty last page; one this
    // server cannot have given is refused.
    let end = format!("a{:x}-0", f64::NEG_INFINITY.to_bits());
    for query in ["q=forest", "sort=score"] {
        let page = server.get_json(&format!("/api/assets?{query}&cursor={end}&limit=1000"));
        assert_eq!(ids(&page), Vec::<u64>::new(), "{query}: {page}");
        assert!(page["next_cursor"].is_null(), "{query}: {page}");
        assert!(page["total"].as_u64().unwrap_or(0) > 0, "{query}: {page}");
    }
    let nan = format!("a{:x}-1", f64::NAN.to_bits());
    for cursor in [nan.as_str(), "o1000", "a-1", "azz-1", "a0-x", "i5"] {
        let answer = request(
            server.addr,
            "GET",
            &format!("/api/assets?q=forest&cursor={cursor}"),
            &[],
            &[],
        );
        let body = String::from_utf8_lossy(&answer.body);
        assert_eq!(answer.status, 400, "{cursor}: {body}");
    }
    let newest = ids(&server.get_json("/api/assets?limit=1000"));
    let mut sorted = newest.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(newest, sorted, "newest first");
    let by_path = server.get_json("/api/assets?sort=path&limit=1000");
    let paths: Vec<&str> = by_path["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .filter_map(|a| a["path"].as_str())
        .collect();
    let mut sorted_paths = paths.clone();
    sorted_paths.sort_unstable();
    assert_eq!(paths, sorted_paths, "by path");

    // A query gives what `kiln search` gives.
    for query in ["lighthouse", "model:dreamshaper", "-forest steps:>=20"] {
        let (expected, cli) = search_ids(store.path(), query, 1000);
        let encoded = form_encode(query);
        let page = server.get_json(&format!("/api/assets?q={encoded}&limit=1000"));
        assert_eq!(ids(&page), expected, "/api/assets for {query}");
        assert_eq!(page["total"], cli["total"], "total for {query}");
    }

    // Status as `kiln status --json`; one asset as `kiln show --json` plus
    // addresses.
    let status = server.get_json("/api/status");
    let cli_status = json(store.path(), &["status"]);
    assert_eq!(status["assets"], cli_status["assets"]);
    assert_eq!(status["jobs"], cli_status["jobs"]);
    let forest = samples_dir().join("a1111-forest.png");
    let shown = json(store.path(), &["show", &forest.to_string_lossy()]);
    let id = shown["id"].as_u64().expect("id");
    let asset = server.get_json(&format!("/api/assets/{id}"));
    for key in ["id", "hash", "paths", "generation", "stages", "session"] {
        assert_eq!(asset[key], shown[key], "{key} of asset {id}");
    }
    assert!(
        asset["a1111_parameters"]
            .as_str()
            .is_some_and(|p| p.contains("Seed: ")),
        "{asset}"
    );
    // The ComfyUI JSON a file carries, as a download; none for A1111's.
    assert!(asset["urls"]["workflow"].is_null(), "{asset}");
    assert_eq!(
        request(
            server.addr,
            "GET",
            &format!("/api/assets/{id}/workflow"),
            &[],
            &[]
        )
        .status,
        404
    );
    let comfy = json(
        store.path(),
        &[
            "show",
            &samples_dir()
                .join("comfyui-lighthouse.png")
                .to_string_lossy(),
        ],
    );
    let comfy = server.get_json(&format!("/api/assets/{}", comfy["id"]));
    for kind in ["workflow", "prompt"] {
        let url = comfy["urls"][kind].as_str().expect("a JSON download");
        let download = request(server.addr, "GET", url, &[], &[]);
        assert_eq!(download.status, 200, "{url}");
        assert!(
            download
                .header("content-disposition")
                .is_some_and(|d| d.starts_with("attachment")),
            "{:?}",
            download.headers
        );
        let parsed: Json = serde_json::from_slice(&download.body).expect("JSON");
        assert!(parsed.is_object(), "{url}: {parsed}");
    }
    let dead = server.get_json("/api/dead");
    assert_eq!(dead, json(store.path(), &["dead", "list"]));
    let sessions = server.get_json("/api/sessions");
    assert!(sessions["total"].as_u64().unwrap_or(0) > 0, "{sessions}");
    let similar = server.get_json(&format!("/api/similar/{id}"));
    let hits = similar["hits"].as_array().expect("similar hits");
    assert!(!hits.is_empty(), "{similar}");
    assert!(
        hits.iter()
            .all(|h| h["id"] != id && h["thumbnail_url"].is_string()),
        "{similar}"
    );

    // Images by id and content hash, cached for good, revalidated by ETag.
    let thumb = asset["urls"]["thumbnail"].as_str().expect("thumbnail url");
    let image = request(server.addr, "GET", thumb, &[], &[]);
    assert_eq!(image.status, 200);
    assert!(
        image
            .header("content-type")
            .is_some_and(|t| t.starts_with("image/")),
        "{:?}",
        image.headers
    );
    assert!(
        image
            .header("cache-control")
            .is_some_and(|c| c.contains("immutable")),
        "{:?}",
        image.headers
    );
    let etag = image.header("etag").expect("an ETag").to_owned();
    let again = request(
        server.addr,
        "GET",
        thumb,
        &[("If-None-Match".to_owned(), etag)],
        &[],
    );
    assert_eq!(again.status, 304);
    let original = request(server.addr, "GET", &format!("/original/{id}"), &[], &[]);
    assert_eq!(original.status, 200);
    let whole = std::fs::read(&forest).expect("the file");
    assert_eq!(original.body, whole);
    assert_eq!(original.header("accept-ranges"), Some("bytes"));
    // A video element seeks with byte ranges.
    let range = |spec: &str| {
        request(
            server.addr,
            "GET",
            &format!("/original/{id}"),
            &[("Range".to_owned(), spec.to_owned())],
            &[],
        )
    };
    let part = range("bytes=10-99");
    assert_eq!(part.status, 206);
    assert_eq!(part.body, whole[10..100]);
    let total = whole.len();
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 10-99/{total}").as_str())
    );
    let tail = range("bytes=-16");
    assert_eq!(tail.status, 206);
    assert_eq!(tail.body, whole[total - 16..]);
    let outside = range(&format!("bytes={total}-"));
    assert_eq!(outside.status, 416);
    assert_eq!(
        outside.header("content-range"),
        Some(format!("bytes */{total}").as_str())
    );

    // Prometheus text: queue depth, jobs, dead letters, commits.
    let metrics = request(server.addr, "GET", "/metrics", &[], &[]);
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body).expect("text");
    for family in [
        "# TYPE kiln_jobs_ready gauge",
        "kiln_dead_letters 1",
        "kiln_commits_total ",
        "kiln_jobs_completed_total ",
    ] {
        assert!(text.contains(family), "{family} missing from:\n{text}");
    }
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let value = line.rsplit(' ').next().unwrap_or("");
        assert!(value.parse::<f64>().is_ok(), "not a sample: {line}");
    }
}

#[test]
fn progress_events_are_pushed_and_coalesced() {
    let store = tempfile::tempdir().expect("temp dir");
    let input = tempfile::tempdir().expect("temp dir");
    let count = 200;
    corpus::generated(input.path(), count, GeneratedKind::Small { side: 96 }).expect("corpus");
    let server = Server::start(store.path(), &[]);
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    write!(
        stream,
        "GET /api/events HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
        server.addr
    )
    .expect("request");
    let reader = std::thread::spawn(move || {
        let mut events: Vec<Json> = Vec::new();
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(data) = line.strip_prefix("data: ") {
                let event: Json = serde_json::from_str(data).expect("an event is JSON");
                let done = event["browsable"].as_u64() == Some(count as u64);
                events.push(event);
                if done {
                    break;
                }
            }
        }
        events
    });
    let started = Instant::now();
    succeed(kiln(store.path()).args(["import", "-q"]).arg(input.path()));
    let events = reader.join().expect("the event reader");
    let took = started.elapsed();
    let last = events.last().expect("events");
    assert_eq!(last["browsable"], count);
    let files = last
        .pointer("/tiers/browsable/total")
        .and_then(Json::as_u64)
        .expect("a browsable total");
    assert_eq!(files, count as u64, "progress counts files: {last}");
    // At most one message per 400 ms, plus the first.
    let bound = took.as_millis() / 400 + 3;
    assert!(
        (events.len() as u128) <= bound,
        "{} events in {took:?} for {count} files",
        events.len()
    );
    let seen: Vec<u64> = events
        .iter()
        .filter_map(|e| e["browsable"].as_u64())
        .collect();
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "browsable only grows: {seen:?}"
    );
}

#[test]
fn uploads_keep_their_names_never_overwrite_and_refuse_what_is_not_an_image() {
    let store = tempfile::tempdir().expect("temp dir");
    let server = Server::start(store.path(), &[]);
    let png = paint::png(&paint::gradient(64, 48));
    let other = paint::png(&paint::noise(64, 48));
    let (kind, body) = multipart(&[
        ("../../escape.png", &png),
        ("render.png", &other),
        ("notes.png", b"this is text, not an image"),
        (".hidden.png", &png),
    ]);
    let mut headers = same_origin(server.addr);
    headers.push(("Content-Type".to_owned(), kind));
    let response = request(server.addr, "POST", "/api/upload", &headers, &body);
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let answer = response.json();
    let uploads = std::fs::canonicalize(store.path().join("uploads")).expect("upload folder");
    let saved: Vec<String> = answer["saved"]
        .as_array()
        .expect("saved")
        .iter()
        .filter_map(|s| s["saved_as"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(saved.len(), 3, "{answer}");
    for path in &saved {
        assert!(
            std::path::Path::new(path).starts_with(&uploads),
            "{path} is outside {}",
            uploads.display()
        );
    }
    assert!(uploads.join("escape.png").is_file(), "{answer}");
    assert!(uploads.join("render.png").is_file());
    let errors = answer["errors"].as_array().expect("errors");
    assert!(
        errors.iter().any(|e| e["name"] == "notes.png"),
        "the text file is refused: {answer}"
    );
    assert!(!uploads.join("notes.png").exists());

    // The same name again: kept beside, never over.
    let (kind, body) = multipart(&[("render.png", &png)]);
    let mut headers = same_origin(server.addr);
    headers.push(("Content-Type".to_owned(), kind));
    let response = request(server.addr, "POST", "/api/upload", &headers, &body);
    assert_eq!(response.status, 200);
    assert_eq!(
        std::fs::read(uploads.join("render.png")).expect("first"),
        other
    );
    assert_eq!(
        std::fs::read(uploads.join("render (2).png")).expect("second"),
        png
    );

    // All of them are imported: four files, two contents.
    server.wait_json("/api/status", "the uploads imported", |s| {
        s["files"].as_u64() == Some(4) && s["jobs"]["ready"] == 0 && s["jobs"]["running"] == 0
    });
    server.wait_json("/api/assets?limit=10", "the uploads browsable", |a| {
        a["total"].as_u64() == Some(2)
    });
}

#[test]
fn an_upload_cut_off_midway_leaves_nothing_behind() {
    let store = tempfile::tempdir().expect("temp dir");
    let server = Server::start(store.path(), &[]);
    let png = paint::png(&paint::noise(512, 512));
    let (kind, body) = multipart(&[("cut.png", &png)]);
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    let mut head = format!(
        "POST /api/upload HTTP/1.1\r\nHost: {}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n",
        server.addr,
        body.len()
    );
    for (name, value) in same_origin(server.addr) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("head");
    stream
        .write_all(&body[..body.len() / 2])
        .expect("half the body");
    stream.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(300));
    drop(stream);

    // A whole upload after it goes through, so the cut one was handled.
    let (kind, body) = multipart(&[("whole.png", &paint::png(&paint::gradient(40, 40)))]);
    let mut headers = same_origin(server.addr);
    headers.push(("Content-Type".to_owned(), kind));
    assert_eq!(
        request(server.addr, "POST", "/api/upload", &headers, &body).status,
        200
    );
    server.wait_json("/api/assets?limit=10", "the whole upload browsable", |a| {
        a["total"].as_u64() == Some(1)
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let uploads = store.path().join("uploads");
    loop {
        let names: Vec<String> = std::fs::read_dir(&uploads)
            .expect("upload folder")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if names == ["whole.png"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cut upload left {names:?} in {}",
            uploads.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let listed = server.get_json("/api/assets?limit=10");
    assert_eq!(listed["assets"][0]["name"], "whole.png");
    assert_eq!(listed["total"], 1, "{listed}");
}

#[test]
fn the_server_refuses_traversal_cross_site_posts_and_foreign_hosts() {
    let store = tempfile::tempdir().expect("temp dir");
    import_samples(store.path());
    let server = Server::start(store.path(), &[]);
    let addr = server.addr;

    for path in [
        "/img/../../../etc/passwd",
        "/img/1/thumbnail/..%2f..%2f..%2fetc%2fpasswd",
        "/img/%2e%2e/%2e%2e/etc/passwd",
        "/img/1/..%2F..%2Fkiln.redb/x",
        "/static/..%2f..%2fCargo.toml",
        "/static/%2e%2e/app.js",
        "/original/..%2fkiln.redb",
        "/original/1/../../etc/passwd",
        "/etc/passwd",
        "/api/assets/..%2f1",
        "/blobs/",
    ] {
        let response = request(addr, "GET", path, &[], &[]);
        assert_eq!(response.status, 404, "GET {path}");
        let body = String::from_utf8_lossy(&response.body);
        assert!(!body.contains("root:"), "GET {path} leaked {body}");
    }
    // Security headers on every answer, the page's policy forbids inline
    // script.
    let page = request(addr, "GET", "/", &[], &[]);
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));

    // Cross-site posts are refused; the page's own are not.
    for headers in [
        vec![("Origin".to_owned(), "http://evil.example".to_owned())],
        vec![
            ("Origin".to_owned(), format!("http://{addr}")),
            ("Sec-Fetch-Site".to_owned(), "cross-site".to_owned()),
        ],
        vec![("Sec-Fetch-Site".to_owned(), "same-site".to_owned())],
    ] {
        for path in ["/api/dead/retry-all", "/api/dead/purge", "/api/upload"] {
            let response = request(addr, "POST", path, &headers, &[]);
            assert_eq!(response.status, 403, "POST {path} with {headers:?}");
        }
    }
    assert_eq!(
        server.get_json("/api/dead")["total"],
        1,
        "nothing was purged"
    );
    let purged = request(addr, "POST", "/api/dead/purge", &same_origin(addr), &[]);
    assert_eq!(purged.status, 200);
    assert_eq!(server.get_json("/api/dead")["total"], 0);

    // A name that is not this machine's loopback (DNS rebinding) is refused.
    let foreign = request(
        addr,
        "GET",
        "/api/status",
        &[("Host".to_owned(), format!("evil.example:{}", addr.port()))],
        &[],
    );
    assert_eq!(foreign.status, 421);
    let local = request(
        addr,
        "GET",
        "/api/status",
        &[("Host".to_owned(), format!("localhost:{}", addr.port()))],
        &[],
    );
    assert_eq!(local.status, 200);
}

#[test]
fn a_server_on_a_non_loopback_address_requires_its_token() {
    let store = tempfile::tempdir().expect("temp dir");
    import_samples(store.path());
    let server = Server::start_listening(store.path(), "0.0.0.0:0", &[]);
    let token = server
        .token
        .clone()
        .unwrap_or_else(|| panic!("no token printed: {}", server.printed));
    assert!(token.len() >= 32, "{token}");
    let addr = server.addr;
    let thumb = {
        let listing = server.get_json("/api/assets?limit=1");
        listing["assets"][0]["thumbnail_url"]
            .as_str()
            .expect("a thumbnail")
            .to_owned()
    };
    for path in [
        "/",
        "/api/status",
        "/api/events",
        "/metrics",
        thumb.as_str(),
        "/original/1",
    ] {
        let response = request(addr, "GET", path, &[], &[]);
        assert_eq!(response.status, 401, "GET {path} without the token");
        let wrong = request(
            addr,
            "GET",
            path,
            &[(
                "Authorization".to_owned(),
                format!("Bearer {}x", &token[..token.len() - 1]),
            )],
            &[],
        );
        assert_eq!(wrong.status, 401, "GET {path} with a wrong token");
    }
    let response = request(
        addr,
        "GET",
        "/api/status",
        &[("Authorization".to_owned(), format!("Bearer {token}"))],
        &[],
    );
    assert_eq!(response.status, 200);
    // The printed address logs the browser in: the token becomes a cookie.
    let login = request(addr, "GET", &format!("/?token={token}"), &[], &[]);
    assert_eq!(login.status, 200);
    let cookie = login.header("set-cookie").expect("a cookie").to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("name=value").to_owned();
    let with_cookie = request(addr, "GET", &thumb, &[("Cookie".to_owned(), pair)], &[]);
    assert_eq!(with_cookie.status, 200);
    // A token shorter than 16 characters is refused at start.
    let out = kiln(store.path())
        .args(["serve", "--listen", "0.0.0.0:0", "--token", "short"])
        .output()
        .expect("kiln runs");
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 16"));
    let out = kiln(store.path())
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--token",
            "long enough; but a cookie breaks",
        ])
        .output()
        .expect("kiln runs");
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only letters"));
}

#[test]
fn a_second_server_on_the_same_store_serves_as_a_client_and_takes_over() {
    let store = tempfile::tempdir().expect("temp dir");
    let first = Server::start(store.path(), &[]);
    let second = Server::start(store.path(), &[]);
    let started = Instant::now();
    while !second.stderr().contains("serving as its client") {
        assert!(
            started.elapsed() < DEADLINE,
            "the second server did not say it is a client:\n{}",
            second.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // An upload to the client is imported by the primary's workers.
    let (kind, body) = multipart(&[(
        "through-the-client.png",
        &paint::png(&paint::gradient(80, 60)),
    )]);
    let mut headers = same_origin(second.addr);
    headers.push(("Content-Type".to_owned(), kind));
    assert_eq!(
        request(second.addr, "POST", "/api/upload", &headers, &body).status,
        200
    );
    for server in [&first, &second] {
        server.wait_json("/api/assets?limit=5", "the upload browsable", |a| {
            a["assets"][0]["name"] == "through-the-client.png"
                && a["assets"][0]["thumbnail_url"].is_string()
        });
    }

    // When the primary goes, the client takes over its work.
    drop(first);
    let started = Instant::now();
    while !second.stderr().contains("now runs the workers") {
        assert!(
            started.elapsed() < DEADLINE,
            "the client did not take over:\n{}",
            second.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (kind, body) = multipart(&[("after-the-primary.png", &paint::png(&paint::noise(80, 60)))]);
    let mut headers = same_origin(second.addr);
    headers.push(("Content-Type".to_owned(), kind));
    assert_eq!(
        request(second.addr, "POST", "/api/upload", &headers, &body).status,
        200
    );
    second.wait_json("/api/assets?limit=5", "the second upload browsable", |a| {
        a["assets"][0]["name"] == "after-the-primary.png"
            && a["assets"][0]["thumbnail_url"].is_string()
    });
}

#[test]
fn a_server_on_another_loopback_address_answers_to_it() {
    let store = tempfile::tempdir().expect("temp dir");
    let server = Server::start_listening(store.path(), "127.0.0.2:0", &[]);
    assert_eq!(
        server.addr.ip().to_string(),
        "127.0.0.2",
        "{}",
        server.printed
    );
    assert!(server.token.is_none(), "loopback needs no token");
    let status = server.get_json("/api/status");
    assert_eq!(status["assets"], 0);
    let foreign = request(
        server.addr,
        "GET",
        "/api/status",
        &[(
            "Host".to_owned(),
            format!("evil.example:{}", server.addr.port()),
        )],
        &[],
    );
    assert_eq!(foreign.status, 421);
}

/// A POST of `body` as JSON from the page's own origin.
fn post_json(addr: std::net::SocketAddr, path: &str, body: &Json) -> common::serve::Response {
    let mut headers = same_origin(addr);
    headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
    request(addr, "POST", path, &headers, body.to_string().as_bytes())
}

/// [`post_json`] that must be answered 200; the answer's JSON.
fn post_ok(addr: std::net::SocketAddr, path: &str, body: &Json) -> Json {
    let response = post_json(addr, path, body);
    assert_eq!(
        response.status,
        200,
        "POST {path}: {}",
        String::from_utf8_lossy(&response.body)
    );
    response.json()
}

/// The ids a `--json` command's hits or assets list.
fn cli_ids(value: &Json, key: &str) -> Vec<u64> {
    let mut ids: Vec<u64> = value[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {value}"))
        .iter()
        .filter_map(|a| a["id"].as_u64())
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn curation_through_the_api_is_one_change_for_many_and_shows_at_once() {
    let store = tempfile::tempdir().expect("temp dir");
    import_samples(store.path());
    let server = Server::start(store.path(), &[]);
    let addr = server.addr;
    let listed = ids(&server.get_json("/api/assets?limit=100"));
    let (a, b, c) = (listed[0], listed[1], listed[2]);

    // Three assets rated and tagged in one request.
    let answer = post_ok(
        addr,
        "/api/curate",
        &serde_json::json!({"ids": [a, b, c], "rating": 4, "add_tags": ["keeper", "client A"]}),
    );
    assert_eq!(answer["changed"], 3, "{answer}");
    let changed = answer["assets"].as_array().expect("assets");
    assert_eq!(changed.len(), 3, "{answer}");
    for asset in changed {
        assert_eq!(asset["rating"], 4, "{asset}");
        assert_eq!(asset["tags"], serde_json::json!(["keeper", "client A"]));
    }
    // The CLI sees it, and so do the listings, at once.
    let mut three = vec![a, b, c];
    three.sort_unstable();
    assert_eq!(
        cli_ids(&json(store.path(), &["search", "tag:keeper"]), "hits"),
        three
    );
    assert_eq!(
        json(store.path(), &["show", &a.to_string()])["curation"]["rating"],
        4
    );
    let mut found = ids(&server.get_json(&format!(
        "/api/assets?q={}",
        form_encode("rating:>=4 tag:\"client A\"")
    )));
    found.sort_unstable();
    assert_eq!(found, three);
    let browse = server.get_json("/api/assets?limit=100");
    let entry = browse["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .find(|e| e["id"] == a)
        .expect("listed");
    assert_eq!(entry["curation"]["rating"], 4, "{entry}");
    let other = browse["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .find(|e| e["id"] == listed[3])
        .expect("listed");
    assert_eq!(other["curation"]["rating"], 0, "{other}");
    assert_eq!(
        server.get_json(&format!("/api/assets/{b}"))["curation"]["tags"],
        serde_json::json!(["keeper", "client A"])
    );
    // A favorite, then a search for favorites finds it straight away.
    post_ok(
        addr,
        "/api/curate",
        &serde_json::json!({"ids": [b], "favorite": true, "remove_tags": ["KEEPER"]}),
    );
    assert_eq!(
        ids(&server.get_json("/api/assets?q=favorite%3Atrue")),
        vec![b]
    );
    let mut kept = ids(&server.get_json("/api/assets?q=tag%3Akeeper"));
    kept.sort_unstable();
    assert_eq!(kept, vec![a.min(c), a.max(c)]);

    // What the API refuses, each with a 400 that says why, and nothing
    // changed.
    let curation_of_a = || json(store.path(), &["show", &a.to_string()])["curation"].clone();
    let before = curation_of_a();
    let long = "x".repeat(600);
    let many: Vec<u64> = (1..=10_001).collect();
    let tags: Vec<String> = (0..65).map(|i| format!("t{i}")).collect();
    for (body, says) in [
        (serde_json::json!({"ids": [a], "rating": 6}), "out of range"),
        (
            serde_json::json!({"ids": [a], "rating": 300}),
            "cannot read",
        ),
        (serde_json::json!({"ids": [], "rating": 1}), "at least one"),
        (
            serde_json::json!({"ids": many, "rating": 1}),
            "at most 10000",
        ),
        (
            serde_json::json!({"ids": [a], "add_tags": [long]}),
            "at most 512",
        ),
        (
            serde_json::json!({"ids": [a], "add_tags": ["y".repeat(101)]}),
            "longer than 100",
        ),
        (
            serde_json::json!({"ids": [a], "add_tags": ["a\u{1b}[2J"]}),
            "control",
        ),
        (
            serde_json::json!({"ids": [a], "add_tags": tags}),
            "at most 64",
        ),
        (
            serde_json::json!({"ids": [a, 999_999], "rating": 1}),
            "999999",
        ),
        (serde_json::json!({"ids": [a]}), "nothing to change"),
        (
            serde_json::json!({"ids": [a], "rating": 1, "delete": true}),
            "unknown field",
        ),
        (
            serde_json::json!({"ids": "all", "rating": 1}),
            "cannot read",
        ),
    ] {
        let response = post_json(addr, "/api/curate", &body);
        let text = String::from_utf8_lossy(&response.body).into_owned();
        assert_eq!(response.status, 400, "{body}: {text}");
        assert!(text.contains(says), "{body}: {text}");
    }
    assert_eq!(curation_of_a(), before, "a refused request changed nothing");
    let mut headers = same_origin(addr);
    headers.push(("Content-Type".to_owned(), "text/plain".to_owned()));
    let plain = request(
        addr,
        "POST",
        "/api/curate",
        &headers,
        br#"{"ids":[1],"rating":1}"#,
    );
    assert_eq!(plain.status, 415);
    let mut headers = same_origin(addr);
    headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
    let huge = format!(
        r#"{{"ids":[1],"rating":1,"add_tags":["{}"]}}"#,
        "z".repeat(300 << 10)
    );
    let huge = request(addr, "POST", "/api/curate", &headers, huge.as_bytes());
    assert_eq!(huge.status, 413);
    // Another site's page cannot curate, collect or cull.
    // Each body is one the endpoint would take from the page itself.
    for (path, body) in [
        ("/api/curate", serde_json::json!({"ids": [a], "rating": 0})),
        (
            "/api/collection/add",
            serde_json::json!({"name": "x", "ids": [a], "create": true}),
        ),
        (
            "/api/collection/remove",
            serde_json::json!({"name": "x", "ids": [a]}),
        ),
        (
            "/api/cull/apply",
            serde_json::json!({"session": "ab12", "reject": []}),
        ),
    ] {
        let headers = vec![
            ("Origin".to_owned(), "http://evil.example".to_owned()),
            ("Content-Type".to_owned(), "application/json".to_owned()),
        ];
        let response = request(addr, "POST", path, &headers, body.to_string().as_bytes());
        assert_eq!(response.status, 403, "POST {path}");
    }
    assert_eq!(curation_of_a(), before, "another site changed nothing");
    assert_eq!(server.get_json("/api/collections")["total"], 0);
}

#[test]
fn collections_and_the_cull_of_a_session_through_the_api() {
    let store = tempfile::tempdir().expect("temp dir");
    import_samples(store.path());
    let server = Server::start(store.path(), &[]);
    let addr = server.addr;
    let listed = ids(&server.get_json("/api/assets?limit=100"));
    let (a, b, c) = (listed[0], listed[1], listed[2]);

    // Created by name on first add, members in the order added.
    let added = post_ok(
        addr,
        "/api/collection/add",
        &serde_json::json!({"name": "Client  A", "ids": [c, a, c], "create": true}),
    );
    assert_eq!(added["added"], 2, "{added}");
    assert_eq!(added["collection"]["name"], "Client A");
    let again = post_ok(
        addr,
        "/api/collection/add",
        &serde_json::json!({"name": "client a", "ids": [b, a]}),
    );
    assert_eq!(again["added"], 1);
    let all = server.get_json("/api/collections");
    assert_eq!(all["total"], 1, "{all}");
    assert_eq!(all["collections"][0]["members"], 3);
    assert!(all["collections"][0]["cover_url"].is_string(), "{all}");
    let one = server.get_json("/api/collection?name=client+a");
    assert_eq!(ids(&one), vec![c, a, b]);
    assert_eq!(
        one["assets"][0]["curation"]["collections"],
        serde_json::json!(["Client A"])
    );
    let shown = json(store.path(), &["collection", "show", "Client A"]);
    let order: Vec<u64> = shown["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .filter_map(|m| m["id"].as_u64())
        .collect();
    assert_eq!(order, vec![c, a, b], "the CLI sees the same order");
    // Paged by cursor.
    let first = server.get_json("/api/collection?name=client+a&limit=2");
    assert_eq!(ids(&first), vec![c, a]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let rest = server.get_json(&format!(
        "/api/collection?name=client+a&limit=2&cursor={cursor}"
    ));
    assert_eq!(ids(&rest), vec![b]);
    assert!(rest["next_cursor"].is_null());
    // Removed from the collection view's bar.
    let removed = post_ok(
        addr,
        "/api/collection/remove",
        &serde_json::json!({"name": "client a", "ids": [a]}),
    );
    assert_eq!(removed["removed"], 1);
    assert_eq!(
        ids(&server.get_json("/api/collection?name=client+a")),
        vec![c, b]
    );
    // Unknown names, bad names and bad cursors.
    let get = |path: &str| request(addr, "GET", path, &[], &[]);
    assert_eq!(get("/api/collection?name=nobody").status, 404);
    assert_eq!(get("/api/collection").status, 400);
    assert_eq!(get("/api/collection?name=client+a&cursor=zz").status, 400);
    let unknown = post_json(
        addr,
        "/api/collection/add",
        &serde_json::json!({"name": "nobody", "ids": [a]}),
    );
    assert_eq!(
        unknown.status, 404,
        "adding to a missing collection without create"
    );
    let control = post_json(
        addr,
        "/api/collection/add",
        &serde_json::json!({"name": "x\u{7}y", "ids": [a], "create": true}),
    );
    assert_eq!(control.status, 400);
    assert_eq!(server.get_json("/api/collections")["total"], 1);

    // Moved, renamed and deleted.
    let moved = post_ok(
        addr,
        "/api/collection/move",
        &serde_json::json!({"name": "client a", "ids": [b], "to": "start"}),
    );
    assert_eq!(moved["moved"], 1);
    assert_eq!(
        ids(&server.get_json("/api/collection?name=client+a")),
        vec![b, c]
    );
    post_ok(
        addr,
        "/api/collection/move",
        &serde_json::json!({"name": "client a", "ids": [b], "after": c}),
    );
    assert_eq!(
        ids(&server.get_json("/api/collection?name=client+a")),
        vec![c, b]
    );
    for (body, status) in [
        (serde_json::json!({"name": "client a", "ids": [b]}), 400),
        (
            serde_json::json!({"name": "client a", "ids": [b], "to": "start", "before": c}),
            400,
        ),
        (
            serde_json::json!({"name": "client a", "ids": [b], "to": "middle"}),
            400,
        ),
        (
            serde_json::json!({"name": "client a", "ids": [a], "to": "end"}),
            400,
        ),
        (
            serde_json::json!({"name": "client a", "ids": [b], "before": b}),
            400,
        ),
        (
            serde_json::json!({"name": "nobody", "ids": [b], "to": "end"}),
            404,
        ),
    ] {
        let answer = post_json(addr, "/api/collection/move", &body);
        assert_eq!(
            answer.status,
            status,
            "{body}: {}",
            String::from_utf8_lossy(&answer.body)
        );
    }
    assert_eq!(
        ids(&server.get_json("/api/collection?name=client+a")),
        vec![c, b],
        "refused moves change nothing"
    );
    post_ok(
        addr,
        "/api/collection/add",
        &serde_json::json!({"name": "Other", "ids": [a], "create": true}),
    );
    let taken = post_json(
        addr,
        "/api/collection/rename",
        &serde_json::json!({"name": "client a", "to": "OTHER"}),
    );
    assert_eq!(
        taken.status,
        400,
        "{}",
        String::from_utf8_lossy(&taken.body)
    );
    let renamed = post_ok(
        addr,
        "/api/collection/rename",
        &serde_json::json!({"name": "client a", "to": "Client B"}),
    );
    assert_eq!(renamed["collection"]["name"], "Client B");
    assert_eq!(renamed["collection"]["members"], 2);
    let deleted = post_ok(
        addr,
        "/api/collection/delete",
        &serde_json::json!({"name": "other"}),
    );
    assert_eq!(deleted["members"], 1);
    assert_eq!(
        post_json(
            addr,
            "/api/collection/delete",
            &serde_json::json!({"name": "other"})
        )
        .status,
        404
    );
    assert_eq!(server.get_json("/api/collections")["total"], 1);
    assert_eq!(server.get_json(&format!("/api/assets/{a}"))["id"], a);

    // The best of a session: what `kiln cull --per-session 1` proposes.
    let sessions = server.get_json("/api/sessions");
    let session = sessions["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter(|s| s["assets"].as_u64().unwrap_or(0) >= 2)
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .next()
        .expect("a session of two or more");
    let plan = server.get_json(&format!("/api/cull?session={session}&keep=1"));
    let cli = json(
        store.path(),
        &["cull", "--per-session", "1", &format!("session:{session}")],
    );
    let group = cli["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["group"] == session.as_str())
        .expect("the session's group");
    assert_eq!(ids_of(&plan["keep"]), ids_of(&group["keep"]));
    assert_eq!(ids_of(&plan["reject"]), ids_of(&group["reject"]));
    assert!(!ids_of(&plan["reject"]).is_empty(), "{plan}");
    assert!(plan["keep"][0]["score"].is_number(), "{plan}");
    // Applied only as shown; then the rest carry `rejected`.
    let rejects = ids_of(&plan["reject"]);
    let wrong = post_json(
        addr,
        "/api/cull/apply",
        &serde_json::json!({"session": session, "keep": 1, "reject": [a]}),
    );
    assert_eq!(wrong.status, 409);
    let applied = post_ok(
        addr,
        "/api/cull/apply",
        &serde_json::json!({"session": session, "keep": 1, "reject": rejects}),
    );
    assert_eq!(applied["rejected"], rejects.len());
    let mut sorted = rejects.clone();
    sorted.sort_unstable();
    assert_eq!(
        cli_ids(&json(store.path(), &["search", "tag:rejected"]), "hits"),
        sorted
    );
    assert_eq!(
        get(&format!("/api/cull?session={session}&keep=0")).status,
        400
    );
    assert_eq!(get("/api/cull?session=..%2Fetc&keep=1").status, 400);
    assert_eq!(get("/api/cull?session=00ff&keep=1").status, 404);
}

fn ids_of(list: &Json) -> Vec<u64> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .filter_map(|a| a["id"].as_u64())
        .collect()
}
