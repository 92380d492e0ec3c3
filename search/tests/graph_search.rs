//! The node classes and literal strings of an embedded node graph (the
//! metadata stage's `graph` facts) are searchable: `node:` a class, and any
//! literal string as free text, also where no prompt was resolved.

use kiln_plugin_api::{AssetId, Value, builtin};
use kiln_search::{AssetDoc, SearchIndex, SortBy};
use std::collections::BTreeMap;

fn facts(nodes: &[&str], strings: &[&str], prompt: Option<&str>) -> BTreeMap<String, Value> {
    let list = |items: &[&str]| Value::List(items.iter().map(|s| Value::from(*s)).collect());
    let generation = Value::map([
        ("generator", Value::from("comfyui")),
        ("positive_prompt", prompt.map_or(Value::Null, Value::from)),
    ]);
    let metadata = Value::map([
        ("generation", generation),
        (
            "graph",
            Value::map([("nodes", list(nodes)), ("strings", list(strings))]),
        ),
    ]);
    BTreeMap::from([(builtin::METADATA.to_owned(), metadata)])
}

fn ids(index: &SearchIndex, query: &str) -> Vec<u64> {
    let mut ids: Vec<u64> = index
        .search(query, SortBy::Relevance, 10)
        .expect("query runs")
        .hits
        .iter()
        .map(|h| h.id.get())
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn node_classes_and_graph_strings_are_searchable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let index = SearchIndex::open(dir.path()).expect("index");
    let docs = [
        AssetDoc::from_facts(
            AssetId::new(1),
            "/out/a.png",
            &facts(
                &["KSampler", "FaceDetailer", "SaveImage"],
                &["a lighthouse at dusk", "euler"],
                Some("a lighthouse at dusk"),
            ),
        ),
        // No prompt resolved (a wildcard), the template still searchable.
        AssetDoc::from_facts(
            AssetId::new(2),
            "/out/b.png",
            &facts(
                &["KSampler", "ImpactWildcardProcessor"],
                &["a __animal__ in a meadow"],
                None,
            ),
        ),
        AssetDoc::from_facts(AssetId::new(3), "/out/c.png", &BTreeMap::new()),
    ];
    assert_eq!(docs[0].nodes, ["KSampler", "FaceDetailer", "SaveImage"]);
    for doc in &docs {
        index.upsert(doc).expect("upsert");
    }
    index.commit().expect("commit");

    assert_eq!(ids(&index, "node:FaceDetailer"), [1]);
    assert_eq!(ids(&index, "node:facedetailer"), [1]);
    assert_eq!(ids(&index, "node:KSampler"), [1, 2]);
    assert_eq!(ids(&index, "-node:FaceDetailer"), [2, 3]);
    assert_eq!(ids(&index, "node:Wildcard"), [2]);
    assert_eq!(ids(&index, "meadow"), [2]);
    assert_eq!(ids(&index, "lighthouse"), [1]);
    assert!(ids(&index, "node:ControlNet").is_empty());
}
