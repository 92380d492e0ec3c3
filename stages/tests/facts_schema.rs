//! The facts schema published in `kiln_plugin_api::builtin` is what the
//! built-in stages (with `kiln-search`'s two) write: each stage runs on every
//! sample image, and the
//! keys (top level, and inside the documented maps) and their value types
//! are checked against the tables of that module's rustdoc, as is each
//! stage's tier and `after` list. A stage that gains or loses a key fails
//! here until the published page says so.

use kiln_plugin_api::{PROXY_ARTIFACT, Stage, StageInput, StageOutput, Value, builtin};
use kiln_search::{SearchEnrichStage, SearchIndex, SearchIndexStage};
use kiln_stages::cluster::ClusterStage;
use kiln_stages::embed::EmbedStage;
use kiln_stages::hash::HashStage;
use kiln_stages::metadata::MetadataStage;
use kiln_stages::score::ScoreStage;
use kiln_stages::thumbnail::ThumbnailStage;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the rustdoc of one stage-name constant says.
#[derive(Debug, Default)]
struct Documented {
    tier: u8,
    after: Vec<String>,
    /// Key path (`seed`, or `generation.seed`) → the Value variants allowed.
    keys: BTreeMap<String, Vec<String>>,
    /// Each table row's cells as written (key, type, example, meaning), with
    /// the key's and the example's backticks and every `\|` escape removed.
    rows: Vec<[String; 4]>,
}

impl Documented {
    /// The documented keys directly under `prefix` (`""` for the top level).
    fn keys_under(&self, prefix: &str) -> BTreeSet<String> {
        self.keys
            .keys()
            .filter_map(|path| match path.rsplit_once('.') {
                Some((parent, key)) if parent == prefix => Some(key.to_owned()),
                None if prefix.is_empty() => Some(path.clone()),
                _ => None,
            })
            .collect()
    }

    /// The maps the schema documents the keys of (`generation`, `exif`).
    fn documented_maps(&self) -> BTreeSet<String> {
        self.keys
            .keys()
            .filter_map(|path| path.rsplit_once('.').map(|(parent, _)| parent.to_owned()))
            .collect()
    }
}

/// The backticked names in `text`.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The cells of a markdown table row (`| a | b |`), trimmed, with `\|`
/// unescaped.
fn cells(row: &str) -> [String; 4] {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = row.trim().trim_start_matches('|').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => cell.push(chars.next().unwrap_or('|')),
            '|' => cells.push(std::mem::take(&mut cell)),
            c => cell.push(c),
        }
    }
    let cells: Vec<String> = cells.iter().map(|c| c.trim().to_owned()).collect();
    cells
        .try_into()
        .unwrap_or_else(|c| panic!("a row of four cells, not {c:?}: {row}"))
}

/// Reads the schema from the source of `kiln_plugin_api::builtin`, keyed by
/// stage name.
fn published_schema() -> BTreeMap<String, Documented> {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-api/src/builtin.rs"),
    )
    .expect("the plugin-api source is in the workspace");
    let mut schema = BTreeMap::new();
    let mut current = Documented::default();
    for line in source.lines() {
        if let Some(doc) = line.strip_prefix("/// ") {
            if let Some(rest) = doc.strip_prefix("Tier ") {
                let (tier, after) = rest
                    .split_once("; runs after: ")
                    .expect("`Tier N; runs after: …`");
                current.tier = tier.parse().expect("a tier number");
                current.after = backticked(after.split('.').next().unwrap_or(""));
            } else if let Some(row) = doc.strip_prefix("| `") {
                let (key, rest) = row.split_once("` | ").expect("a key cell");
                let types = rest.split(" | ").next().expect("a type cell");
                let types = types
                    .split(" or ")
                    .map(|t| t.split_whitespace().next().unwrap_or("").to_owned())
                    .collect();
                current.keys.insert(key.to_owned(), types);
                let mut row = cells(doc);
                for code in [0, 2] {
                    if let Some(inner) = row[code]
                        .strip_prefix('`')
                        .and_then(|c| c.strip_suffix('`'))
                    {
                        row[code] = inner.to_owned();
                    }
                }
                current.rows.push(row);
            }
        } else if let Some(rest) = line.strip_prefix("pub const ") {
            if let Some((_, value)) = rest.split_once(": &str = \"") {
                let name = value.trim_end_matches("\";");
                schema.insert(name.to_owned(), std::mem::take(&mut current));
            }
            current = Documented::default();
        } else if !line.starts_with("///") {
            current = Documented::default();
        }
    }
    schema
}

fn variant(value: &Value) -> &'static str {
    match value {
        Value::Null => "Null",
        Value::Bool(_) => "Bool",
        Value::Int(_) => "Int",
        Value::UInt(_) => "UInt",
        Value::Float(_) => "Float",
        Value::Text(_) => "Text",
        Value::Bytes(_) => "Bytes",
        Value::List(_) => "List",
        Value::Map(_) => "Map",
    }
}

/// Checks one stage's facts against its documented keys; returns the
/// documented maps that held a map here (so their rows were checked).
fn check(doc: &Documented, stage: &str, sample: &Path, facts: &Value) -> BTreeSet<String> {
    let Value::Map(top) = facts else {
        panic!("{stage} on {}: facts are not a map", sample.display());
    };
    let produced: BTreeSet<String> = top.keys().cloned().collect();
    assert_eq!(
        produced,
        doc.keys_under(""),
        "{stage} on {}: the top-level keys differ from kiln_plugin_api::builtin",
        sample.display()
    );
    let mut checked = BTreeSet::new();
    for (path, types) in &doc.keys {
        if let Some((parent, _)) = path.rsplit_once('.')
            && !matches!(facts.path(parent.split('.')), Some(Value::Map(_)))
        {
            // The map this key belongs to is Null here (say, no EXIF block).
            continue;
        }
        let value = facts
            .path(path.split('.'))
            .unwrap_or_else(|| panic!("{stage} on {}: no `{path}`", sample.display()));
        assert!(
            types.iter().any(|t| t == variant(value)),
            "{stage} on {}: `{path}` is {} but documented as {types:?}",
            sample.display(),
            variant(value)
        );
    }
    for map in doc.documented_maps() {
        if let Some(Value::Map(inner)) = facts.path(map.split('.')) {
            let produced: BTreeSet<String> = inner.keys().cloned().collect();
            assert_eq!(
                produced,
                doc.keys_under(&map),
                "{stage} on {}: the keys of `{map}` differ from kiln_plugin_api::builtin",
                sample.display()
            );
            checked.insert(map);
        }
    }
    checked
}

fn samples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the samples folder is in the workspace")
        .map(|entry| entry.expect("a readable folder entry").path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected the samples in {}",
        dir.display()
    );
    files
}

#[test]
fn the_published_schema_names_every_built_in_stage() {
    let schema = published_schema();
    let documented: BTreeSet<&str> = schema.keys().map(String::as_str).collect();
    let all: BTreeSet<&str> = builtin::ALL.into_iter().collect();
    assert_eq!(documented, all);
    for (name, doc) in &schema {
        assert!(!doc.keys.is_empty(), "{name} documents no facts");
        assert!((1..=3).contains(&doc.tier), "{name} documents no tier");
    }
}

#[test]
fn the_schema_as_data_is_the_published_tables() {
    let published = published_schema();
    for stage in builtin::SCHEMA {
        let doc = &published[stage.name];
        assert_eq!(stage.tier, doc.tier, "{}: tier", stage.name);
        assert_eq!(stage.after, doc.after, "{}: after", stage.name);
        let rows: Vec<[String; 4]> = stage
            .facts
            .iter()
            .map(|f| [f.key, f.types, f.example, f.meaning].map(str::to_owned))
            .collect();
        assert_eq!(rows, doc.rows, "{}: the facts table", stage.name);
        assert_eq!(builtin::schema(stage.name), Some(&stage));
    }
    assert_eq!(builtin::SCHEMA.len(), published.len());
}

#[test]
fn the_built_in_stages_write_the_published_facts() {
    let schema = published_schema();
    let index_dir = tempfile::tempdir().expect("temp dir");
    let index = Arc::new(SearchIndex::open(index_dir.path()).expect("the index opens"));
    let stages: Vec<Box<dyn Stage>> = vec![
        Box::new(HashStage::new()),
        Box::new(ThumbnailStage::new()),
        Box::new(MetadataStage),
        Box::new(SearchIndexStage::new(Arc::clone(&index))),
        Box::new(EmbedStage),
        Box::new(ScoreStage),
        Box::new(ClusterStage),
        Box::new(SearchEnrichStage::new(Arc::clone(&index))),
    ];
    let names: Vec<String> = stages.iter().map(|s| s.info().name).collect();
    assert_eq!(
        names,
        builtin::ALL,
        "every built-in stage, in the order they run"
    );
    for stage in &stages {
        let info = stage.info();
        let doc = &schema[&info.name];
        assert_eq!(info.tier, doc.tier, "{}: tier", info.name);
        assert_eq!(info.after, doc.after, "{}: after", info.name);
    }

    let proxies = tempfile::tempdir().expect("temp dir");
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut maps_checked = BTreeSet::new();
    for (id, sample) in (1..).zip(samples()) {
        let mut input = StageInput::for_path(id, sample.to_string_lossy());
        for stage in &stages {
            let name = stage.info().name;
            if stage.info().needs_proxy && input.proxy_path.is_none() {
                continue;
            }
            let output: StageOutput = match stage.process(&input) {
                Ok(output) => output,
                // A sample that does not decode (the corrupt one) fails
                // thumbnail, permanently; it writes no facts to check.
                Err(e) if !e.is_transient() => continue,
                Err(e) => panic!("{name} on {}: {e}", sample.display()),
            };
            let doc = &schema[&name];
            maps_checked.extend(
                check(doc, &name, &sample, &output.facts)
                    .into_iter()
                    .map(|map| format!("{name}.{map}")),
            );
            *seen.entry(name.clone()).or_default() += 1;
            if let Some(hash) = output.content_hash {
                input = input.with_content_hash(hash);
            }
            if let Some(proxy) = output.artifacts.iter().find(|a| a.name == PROXY_ARTIFACT) {
                let path = proxies.path().join(format!("{id}.proxy"));
                std::fs::write(&path, &proxy.bytes).expect("writes the proxy");
                input = input.with_proxy_path(path.to_string_lossy());
            }
            input = input.with_stage_facts(name, output.facts);
        }
    }
    for stage in &stages {
        let name = stage.info().name;
        assert!(
            seen.get(&name).copied().unwrap_or(0) >= 10,
            "{name} ran on too few samples: {seen:?}"
        );
    }
    for map in ["metadata.generation", "metadata.exif"] {
        assert!(
            maps_checked.contains(map),
            "no sample had a `{map}` map, so its rows went unchecked"
        );
    }
}
