//! Curation through the real binary: `rate`, `favorite`, `tag`,
//! `collection`, `curation export|import|purge`, the search terms, `show`;
//! curation following files that move; a second process editing while an
//! import runs.

mod common;

use common::{json, kiln, num, run, samples_dir, search_ids, succeed};
use kiln_testkit::child::ChildGuard;
use kiln_testkit::corpus::{GeneratedKind, generated};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const FILES: [&str; 4] = [
    "comfyui-lighthouse.png",
    "a1111-forest.png",
    "invokeai-castle.png",
    "sdnext-city.jpg",
];

/// A folder holding copies of four samples, imported into a new store.
fn imported(work: &Path) -> (PathBuf, PathBuf) {
    let input = work.join("in");
    std::fs::create_dir_all(&input).expect("input");
    for name in FILES {
        std::fs::copy(samples_dir().join(name), input.join(name)).expect("copy sample");
    }
    let store = work.join("store");
    succeed(kiln(&store).args(["import", "-q"]).arg(&input));
    (store, input)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn id_of(store: &Path, file: &Path) -> u64 {
    num(&json(store, &["show", path(file)]), "/id")
}

fn sorted(mut ids: Vec<u64>) -> Vec<u64> {
    ids.sort_unstable();
    ids
}

fn found(store: &Path, query: &str) -> Vec<u64> {
    sorted(search_ids(store, query, 100).0)
}

fn stderr_of(store: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = run(kiln(store).args(args));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn curation_commands_show_and_search() {
    let work = tempfile::tempdir().expect("tempdir");
    let (store, input) = imported(work.path());
    let [a, b, c, d] = FILES.map(|f| id_of(&store, &input.join(f)));

    let rated = json(&store, &["rate", path(&input.join(FILES[0])), "4"]);
    assert_eq!(num(&rated, "/changed"), 1);
    assert_eq!(num(&rated, "/assets/0/id"), a);
    assert_eq!(num(&rated, "/assets/0/rating"), 4);
    json(&store, &["rate", &c.to_string(), "2"]);
    let tagged = json(
        &store,
        &[
            "tag",
            &a.to_string(),
            &b.to_string(),
            "+keeper",
            "+client A",
            "-draft",
        ],
    );
    assert_eq!(num(&tagged, "/changed"), 2);
    assert_eq!(
        tagged["assets"][1]["tags"],
        serde_json::json!(["keeper", "client A"])
    );
    json(&store, &["tag", &b.to_string(), "-KEEPER"]);
    json(&store, &["favorite", &b.to_string(), &d.to_string()]);
    json(&store, &["favorite", &d.to_string(), "off"]);
    json(&store, &["collection", "create", "Client A"]);
    let added = json(
        &store,
        &[
            "collection",
            "add",
            "client a",
            &c.to_string(),
            &a.to_string(),
        ],
    );
    assert_eq!(num(&added, "/added"), 2);

    let shown = json(&store, &["show", &a.to_string()]);
    assert_eq!(shown["curation"]["rating"], 4);
    assert_eq!(
        shown["curation"]["tags"],
        serde_json::json!(["keeper", "client A"])
    );
    assert_eq!(
        shown["curation"]["collections"],
        serde_json::json!(["Client A"])
    );
    assert_eq!(shown["missing"], false);
    let shown_b = json(&store, &["show", &b.to_string()]);
    assert_eq!(shown_b["curation"]["favorite"], true);
    assert_eq!(shown_b["curation"]["tags"], serde_json::json!(["client A"]));

    assert_eq!(found(&store, "rating:>=4"), vec![a]);
    assert_eq!(found(&store, "rating:2..3"), vec![c]);
    assert_eq!(found(&store, "rating:<=2"), sorted(vec![b, c, d]));
    assert_eq!(found(&store, "rating:0"), sorted(vec![b, d]));
    assert_eq!(found(&store, "favorite:true"), vec![b]);
    assert_eq!(found(&store, "favorite:false"), sorted(vec![a, c, d]));
    assert_eq!(found(&store, "tag:KEEPER"), vec![a]);
    assert_eq!(found(&store, "tag:\"client a\" -tag:keeper"), vec![b]);
    assert_eq!(found(&store, "collection:\"client A\""), sorted(vec![a, c]));
    assert_eq!(found(&store, "collection:nothing"), Vec::<u64>::new());
    // With the other filters: a path word and a curation term together.
    assert_eq!(found(&store, "path:lighthouse tag:keeper"), vec![a]);
    assert_eq!(found(&store, "path:forest tag:keeper"), Vec::<u64>::new());
    assert_eq!(
        found(&store, "-path:lighthouse collection:\"client a\""),
        vec![c]
    );

    let (listed, shown_collection) = (
        json(&store, &["collection", "list"]),
        json(&store, &["collection", "show", "CLIENT A"]),
    );
    assert_eq!(num(&listed, "/total"), 1);
    assert_eq!(num(&listed, "/collections/0/members"), 2);
    let order: Vec<u64> = shown_collection["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .filter_map(|m| m["id"].as_u64())
        .collect();
    assert_eq!(
        order,
        vec![c, a],
        "members keep the order they were added in"
    );
    let order_of = |store: &Path| -> Vec<u64> {
        json(store, &["collection", "show", "client a"])["assets"]
            .as_array()
            .expect("assets")
            .iter()
            .filter_map(|m| m["id"].as_u64())
            .collect()
    };
    let moved = json(
        &store,
        &[
            "collection",
            "move",
            "client a",
            path(&input.join(FILES[0])),
            "--to-start",
        ],
    );
    assert_eq!(num(&moved, "/moved"), 1);
    assert_eq!(order_of(&store), vec![a, c], "a member moved by its path");
    json(
        &store,
        &[
            "collection",
            "move",
            "client a",
            &a.to_string(),
            "--after",
            &c.to_string(),
        ],
    );
    assert_eq!(order_of(&store), vec![c, a]);
    let (code, err) = stderr_of(
        &store,
        &["collection", "move", "client a", &b.to_string(), "--to-end"],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("is not in the collection `Client A`"), "{err}");
    let (code, err) = stderr_of(&store, &["collection", "move", "client a", &a.to_string()]);
    assert_ne!(code, Some(0));
    assert!(
        err.contains("--to-start|--to-end"),
        "a place is required: {err}"
    );

    // Refusals change nothing and say why.
    let (code, err) = stderr_of(&store, &["rate", &a.to_string(), "9"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("0 (none) to 5"), "{err}");
    let (code, err) = stderr_of(&store, &["tag", &a.to_string(), "/no/such/file.png", "+x"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no asset `/no/such/file.png`"), "{err}");
    let (code, err) = stderr_of(&store, &["tag", &a.to_string(), "+bad\u{1b}[2Jtag"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("control character"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "the escape is shown escaped: {err}"
    );
    let (code, err) = stderr_of(&store, &["tag", &a.to_string(), "+x", "--quiet"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("`--quiet` here would be read as a tag to remove"),
        "an option among the tags is refused, not taken as `-quiet`: {err}"
    );
    let (code, err) = stderr_of(&store, &["collection", "add", "nope", &a.to_string()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no collection named `nope`"), "{err}");
    let (code, err) = stderr_of(&store, &["search", "favorite:maybe"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("favorite:true"), "{err}");
    let shown = json(&store, &["show", &a.to_string()]);
    assert_eq!(
        shown["curation"]["tags"],
        serde_json::json!(["keeper", "client A"])
    );
    assert_eq!(shown["curation"]["rating"], 4);

    // A bulk edit by query, in one change.
    let bulk = json(
        &store,
        &["tag", "--query", "collection:\"client a\"", "+picked"],
    );
    assert_eq!(num(&bulk, "/changed"), 2);
    assert_eq!(found(&store, "tag:picked"), sorted(vec![a, c]));

    json(&store, &["collection", "rename", "client a", "Client B"]);
    let deleted = json(&store, &["collection", "delete", "client b"]);
    assert_eq!(num(&deleted, "/members"), 2);
    assert_eq!(found(&store, "collection:\"client b\""), Vec::<u64>::new());
    assert_eq!(
        found(&store, "rating:>=4"),
        vec![a],
        "the assets' curation stays"
    );
}

#[test]
fn curation_follows_moved_files_and_copies() {
    let work = tempfile::tempdir().expect("tempdir");
    let (store, input) = imported(work.path());
    let original = input.join(FILES[0]);
    let a = id_of(&store, &original);
    json(&store, &["rate", &a.to_string(), "5"]);
    json(&store, &["tag", &a.to_string(), "+keeper"]);
    json(&store, &["collection", "create", "set"]);
    json(&store, &["collection", "add", "set", &a.to_string()]);

    // Moved and renamed outside kiln, then found again by an import.
    let moved_dir = work.path().join("elsewhere");
    std::fs::create_dir_all(&moved_dir).expect("folder");
    let moved = moved_dir.join("renamed.png");
    std::fs::rename(&original, &moved).expect("move");
    // And a copy of the same bytes in a third place.
    let copy = moved_dir.join("copy.png");
    std::fs::copy(&moved, &copy).expect("copy");
    succeed(kiln(&store).args(["import", "-q"]).arg(&moved_dir));

    for place in [&moved, &copy] {
        let shown = json(&store, &["show", path(place)]);
        assert_eq!(num(&shown, "/id"), a, "one content, one asset");
        assert_eq!(shown["curation"]["rating"], 5);
        assert_eq!(shown["curation"]["tags"], serde_json::json!(["keeper"]));
        assert_eq!(shown["curation"]["collections"], serde_json::json!(["set"]));
    }
    let shown = json(&store, &["show", &a.to_string()]);
    assert_eq!(shown["missing"], false, "{shown}");
    assert_eq!(
        shown["missing_paths"],
        serde_json::json!([path(&original)]),
        "the old place is reported missing"
    );
    assert_eq!(found(&store, "rating:>=5"), vec![a]);
    let purge = json(&store, &["curation", "purge", "--missing"]);
    assert_eq!(purge["hashes"], serde_json::json!([]), "nothing to purge");

    // Every file of the content gone: shown missing, curation kept until
    // purged.
    std::fs::remove_file(&moved).expect("remove");
    std::fs::remove_file(&copy).expect("remove");
    let shown = json(&store, &["show", &a.to_string()]);
    assert_eq!(shown["missing"], true);
    assert_eq!(shown["curation"]["rating"], 5);
    let listed = json(&store, &["curation", "purge", "--missing"]);
    assert_eq!(listed["hashes"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["applied"], false);
    assert_eq!(
        json(&store, &["show", &a.to_string()])["curation"]["rating"],
        5
    );
    let purged = json(&store, &["curation", "purge", "--missing", "--apply"]);
    assert_eq!(num(&purged, "/purged"), 1);
    let shown = json(&store, &["show", &a.to_string()]);
    assert_eq!(shown["curation"]["rating"], 0);
    assert_eq!(shown["curation"]["collections"], serde_json::json!([]));

    // A file whose bytes change is new content: the old content's curation
    // is an orphan, listed by a plain purge.
    let b_path = input.join(FILES[1]);
    let b = id_of(&store, &b_path);
    json(&store, &["rate", &b.to_string(), "3"]);
    std::fs::copy(samples_dir().join("comfyui-custom-sampler.png"), &b_path).expect("rewrite");
    succeed(kiln(&store).args(["import", "-q"]).arg(&input));
    let now = json(&store, &["show", path(&b_path)]);
    assert_ne!(num(&now, "/id"), b);
    assert_eq!(now["curation"]["rating"], 0);
    let orphans = json(&store, &["curation", "purge"]);
    assert_eq!(
        orphans["hashes"].as_array().map(Vec::len),
        Some(1),
        "{orphans}"
    );
}

#[test]
fn an_export_rebuilds_curation_in_a_new_store() {
    let work = tempfile::tempdir().expect("tempdir");
    let (store, input) = imported(work.path());
    let [a, b, _, d] = FILES.map(|f| id_of(&store, &input.join(f)));
    json(&store, &["rate", &a.to_string(), "4"]);
    json(&store, &["favorite", &b.to_string()]);
    json(&store, &["tag", &d.to_string(), "+keeper", "+client A"]);
    json(&store, &["collection", "create", "Best"]);
    json(
        &store,
        &["collection", "add", "best", &d.to_string(), &a.to_string()],
    );
    let file = work.path().join("curation.json");
    succeed(kiln(&store).args(["curation", "export", "-o"]).arg(&file));
    let stdout = succeed(kiln(&store).args(["curation", "export"])).stdout;
    let written: Json = serde_json::from_slice(&stdout).expect("stdout is JSON");
    assert_eq!(written["kiln_curation"], 1);
    assert_eq!(written["assets"].as_array().map(Vec::len), Some(3));

    // The curation first, then the images, in another place.
    let other = work.path().join("other-store");
    let imported_file = json(&other, &["curation", "import", path(&file)]);
    assert_eq!(num(&imported_file, "/assets_changed"), 3);
    assert_eq!(num(&imported_file, "/collections_created"), 1);
    let moved = work.path().join("moved");
    std::fs::rename(&input, &moved).expect("move the folder");
    succeed(kiln(&other).args(["import", "-q"]).arg(&moved));
    let [a2, b2, _, d2] = FILES.map(|f| id_of(&other, &moved.join(f)));
    assert_eq!(found(&other, "rating:>=4"), vec![a2]);
    assert_eq!(found(&other, "favorite:true"), vec![b2]);
    assert_eq!(found(&other, "tag:\"client a\""), vec![d2]);
    let best = json(&other, &["collection", "show", "best"]);
    let order: Vec<u64> = best["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .filter_map(|m| m["id"].as_u64())
        .collect();
    assert_eq!(order, vec![d2, a2]);

    // Twice: nothing changes.
    let again = json(&other, &["curation", "import", path(&file)]);
    assert_eq!(
        (
            num(&again, "/assets_changed"),
            num(&again, "/collections_created"),
            num(&again, "/members_added")
        ),
        (0, 0, 0)
    );

    // Hostile files: a clear error naming the file, nothing changed.
    let bad = work.path().join("bad.json");
    std::fs::write(
        &bad,
        b"{\"kiln_curation\": 1, \"assets\": [{\"hash\": \"\\u001b[31m\"}]}",
    )
    .expect("write");
    let (code, err) = stderr_of(&other, &["curation", "import", path(&bad)]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(path(&bad)) && err.contains("assets[0]"),
        "{err}"
    );
    assert!(!err.contains('\u{1b}'), "{err}");
    let huge = work.path().join("huge.json");
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len(kiln::curation::MAX_FILE_BYTES + 1))
        .expect("sparse file");
    let (code, err) = stderr_of(&other, &["curation", "import", path(&huge)]);
    assert_eq!(code, Some(1));
    assert!(err.contains("larger than 256 MiB"), "{err}");
    let (code, err) = stderr_of(&other, &["curation", "import", "/no/such/file.json"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("/no/such/file.json"), "{err}");
    assert_eq!(found(&other, "rating:>=4"), vec![a2]);
}

#[test]
fn a_second_process_curates_while_an_import_runs() {
    let corpus = tempfile::tempdir().expect("tempdir");
    generated(corpus.path(), 300, GeneratedKind::Small { side: 640 }).expect("corpus");
    let work = tempfile::tempdir().expect("tempdir");
    let store = work.path().join("store");
    let mut batch = ChildGuard(
        kiln(&store)
            .args(["import", "-q"])
            .arg(corpus.path())
            .spawn()
            .expect("kiln starts"),
    );
    let started = Instant::now();
    loop {
        if num(&json(&store, &["status"]), "/tiers/1/done") >= 4 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "nothing became browsable"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let assets = json(&store, &["assets"]);
    let ids: Vec<String> = assets["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .filter(|a| a["state"] != "dead")
        .filter_map(|a| a["id"].as_u64())
        .take(3)
        .map(|id| id.to_string())
        .collect();
    let mut during = 0;
    for id in &ids {
        for args in [
            vec!["rate", id.as_str(), "5"],
            vec!["tag", id.as_str(), "+during"],
            vec!["favorite", id.as_str()],
        ] {
            let out = run(kiln(&store).args(&args).arg("--json"));
            let err = String::from_utf8_lossy(&out.stderr);
            // An asset not hashed yet is refused as such; never "locked".
            assert!(!err.to_lowercase().contains("lock"), "{err}");
            if out.status.success() {
                during += 1;
            } else {
                assert!(err.contains("not hashed yet"), "{err}");
            }
        }
    }
    let still_running = batch.0.try_wait().expect("batch state").is_none();
    let status = batch.0.wait().expect("the batch ends");
    assert!(status.success() || status.code() == Some(3));
    assert!(during > 0, "no edit landed while the import ran");
    println!("{during} edits, import still running after them: {still_running}");
    let rated = found(&store, "rating:5 tag:during favorite:true");
    assert!(!rated.is_empty());
}

#[test]
fn xmp_sidecars_are_written_and_read_on_first_sight() {
    let work = tempfile::tempdir().expect("tempdir");
    let (store, input) = imported(work.path());
    let [a, b, c, _] = FILES.map(|f| id_of(&store, &input.join(f)));
    let images: Vec<Vec<u8>> = FILES
        .iter()
        .map(|f| std::fs::read(input.join(f)).expect("read"))
        .collect();
    json(&store, &["rate", &a.to_string(), "4"]);
    json(
        &store,
        &[
            "tag",
            &a.to_string(),
            &b.to_string(),
            "+keeper",
            "+sky & <sea>",
        ],
    );
    // Another tool's sidecar beside c: never replaced.
    let foreign = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\" x:xmptk=\"darktable\"/>";
    let c_sidecar = input.join(format!("{}.xmp", FILES[2]));
    std::fs::write(&c_sidecar, foreign).expect("write");
    json(&store, &["rate", &c.to_string(), "2"]);
    let wrote = json(&store, &["curation", "write-xmp"]);
    assert_eq!(num(&wrote, "/written"), 2, "{wrote}");
    assert_eq!(wrote["foreign"].as_array().map(Vec::len), Some(1));
    let again = json(&store, &["curation", "write-xmp", "tag:keeper"]);
    assert_eq!((num(&again, "/written"), num(&again, "/unchanged")), (0, 2));
    assert_eq!(std::fs::read_to_string(&c_sidecar).expect("read"), foreign);
    let a_sidecar =
        std::fs::read_to_string(input.join(format!("{}.xmp", FILES[0]))).expect("written");
    assert!(a_sidecar.contains("xmp:Rating=\"4\""), "{a_sidecar}");
    assert!(
        a_sidecar.contains("<rdf:li>sky &amp; &lt;sea&gt;</rdf:li>"),
        "{a_sidecar}"
    );
    for (name, bytes) in FILES.iter().zip(&images) {
        assert_eq!(
            &std::fs::read(input.join(name)).expect("read"),
            bytes,
            "{name} untouched"
        );
    }

    // A hostile sidecar beside d, then a new store built from the folder:
    // the sidecars' curation is taken, the bad one is a warning.
    let d_sidecar = input.join(format!("{}.xmp", FILES[3]));
    std::fs::write(&d_sidecar, "<x:xmpmeta><unclosed").expect("write");
    let other = work.path().join("other");
    let out = run(kiln(&other).args(["import"]).arg(&input));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: sidecar") && err.contains(path(&d_sidecar)),
        "{err}"
    );
    assert_eq!(
        json(&other, &["assets"])["total"],
        4,
        "sidecars are not imported as assets"
    );
    let [a2, b2, c2, d2] = FILES.map(|f| id_of(&other, &input.join(f)));
    assert_eq!(found(&other, "rating:4 tag:keeper"), vec![a2]);
    assert_eq!(found(&other, "tag:\"sky & <sea>\""), sorted(vec![a2, b2]));
    assert_eq!(
        json(&other, &["show", &c2.to_string()])["curation"]["rating"],
        0
    );
    assert_eq!(
        json(&other, &["show", &d2.to_string()])["curation"]["tags"],
        serde_json::json!([])
    );

    // First sight only: curation set in the store is never overwritten by
    // a sidecar on a later import.
    json(&other, &["rate", &a2.to_string(), "1"]);
    succeed(kiln(&other).args(["import", "-q"]).arg(&input));
    assert_eq!(
        json(&other, &["show", &a2.to_string()])["curation"]["rating"],
        1
    );
}

#[test]
fn cull_keeps_the_best_of_each_session_and_tags_the_rest() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in");
    std::fs::create_dir_all(&input).expect("input");
    for entry in std::fs::read_dir(samples_dir()).expect("samples") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), input.join(entry.file_name())).expect("copy");
    }
    let store = work.path().join("store");
    let out = run(kiln(&store).args(["import", "-q"]).arg(&input));
    assert!(matches!(out.status.code(), Some(0 | 3)), "{out:?}");

    let sessions = json(&store, &["sessions"]);
    let members: Vec<Vec<u64>> = sessions["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| {
            s["asset_ids"]
                .as_array()
                .expect("ids")
                .iter()
                .filter_map(Json::as_u64)
                .collect()
        })
        .collect();
    let score_of = |id: u64| {
        json(&store, &["show", &id.to_string()])["quality"]["score"]
            .as_f64()
            .expect("scored")
    };
    let plan = json(&store, &["cull", "--per-session", "1"]);
    assert_eq!(plan["by"], "session");
    assert_eq!(plan["applied"], false);
    let ids = |list: &Json| -> Vec<u64> {
        list.as_array()
            .expect("list")
            .iter()
            .filter_map(|e| e["id"].as_u64())
            .collect()
    };
    let mut rejected = Vec::new();
    let groups = plan["groups"].as_array().expect("groups");
    assert!(
        !groups.is_empty(),
        "the samples hold a session of two: {plan}"
    );
    for group in groups {
        let (keep, reject) = (ids(&group["keep"]), ids(&group["reject"]));
        assert_eq!(keep.len(), 1, "{group}");
        // The group is one session's members.
        let mut all: Vec<u64> = keep.iter().chain(&reject).copied().collect();
        all.sort_unstable();
        assert!(
            members.iter().any(|m| {
                let mut m = m.clone();
                m.sort_unstable();
                m == all
            }),
            "{group} is not a session"
        );
        let best = score_of(keep[0]);
        for id in &reject {
            assert!(
                score_of(*id) <= best,
                "{id} scores above the kept {}",
                keep[0]
            );
        }
        rejected.extend(reject);
    }
    assert_eq!(num(&plan, "/rejected") as usize, rejected.len());
    assert_eq!(
        found(&store, "tag:rejected"),
        Vec::<u64>::new(),
        "a plan changes nothing"
    );

    let applied = json(&store, &["cull", "--per-session", "1", "--apply"]);
    assert_eq!(applied["applied"], true);
    assert_eq!(found(&store, "tag:rejected"), sorted(rejected.clone()));
    for id in rejected {
        let shown = json(&store, &["show", &id.to_string()]);
        let file = shown["paths"][0].as_str().expect("path");
        assert!(
            Path::new(file).is_file(),
            "a rejected file is never deleted"
        );
    }
    // A query narrows the cull: excluding the rejects leaves nothing to reject.
    let narrowed = json(&store, &["cull", "-tag:rejected", "--per-session", "1"]);
    assert_eq!(num(&narrowed, "/rejected"), 0, "{narrowed}");
    let (code, err) = stderr_of(&store, &["cull", "--per-session", "0"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("per-session"), "{err}");
}
