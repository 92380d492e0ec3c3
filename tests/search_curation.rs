//! Curation terms in the library's search: resolved when the query runs,
//! so an edit is seen by the next search without re-indexing, and keyset
//! pages (`search_page` with `After`) walk a curated result list as they
//! walk any other.

mod common;

use common::{import_until, open, write_png};
use kiln::engine::{AssetId, ContentHash, CurationEdit};
use kiln::{After, Kiln, SortBy};

fn ids(kiln: &Kiln, query: &str, sort: SortBy) -> Vec<AssetId> {
    kiln.search(query, sort, 1_000)
        .expect("search")
        .hits
        .into_iter()
        .map(|h| h.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curation_terms_page_and_see_edits_at_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).expect("input");
    for i in 0..24u8 {
        write_png(&input.join(format!("pic{i:02}.png")), i * 9);
    }
    let kiln = open(&tmp.path().join("store"));
    import_until(&kiln, &input, kiln::engine::Tier::Searchable).await;
    let engine = kiln.engine();
    let mut all: Vec<AssetId> = engine
        .assets()
        .expect("assets")
        .iter()
        .map(|a| a.id)
        .collect();
    all.sort_unstable();
    assert_eq!(all.len(), 24);
    let hashes: Vec<ContentHash> = engine
        .content_hashes(&all)
        .expect("hashes")
        .into_iter()
        .map(|h| h.expect("hashed"))
        .collect();

    // Every other asset tagged, in one edit.
    let tagged: Vec<ContentHash> = hashes.iter().step_by(2).copied().collect();
    let edit = CurationEdit {
        add_tags: vec!["keeper".into()],
        ..CurationEdit::default()
    };
    assert_eq!(engine.curate(tagged, edit).await.expect("tag"), 12);
    let expected: Vec<AssetId> = all.iter().step_by(2).copied().collect();
    for sort in [SortBy::Relevance, SortBy::Date, SortBy::Score] {
        let whole = ids(&kiln, "tag:keeper", sort);
        assert_eq!(whole.len(), 12);
        let mut set = whole.clone();
        set.sort_unstable();
        assert_eq!(set, expected);
        // Pages of 5, each after the last hit of the one before.
        let mut paged = Vec::new();
        let mut after: Option<After> = None;
        loop {
            let page = kiln
                .search_page("tag:keeper", sort, after, 5)
                .expect("page");
            assert_eq!(page.total, 12);
            let Some(last) = page.hits.last() else {
                break;
            };
            after = Some(After::from(last));
            paged.extend(page.hits.iter().map(|h| h.id));
        }
        assert_eq!(paged, whole, "pages walk the same list ({sort:?})");
        let excluded = ids(&kiln, "-tag:keeper", sort);
        assert_eq!(excluded.len(), 12);
        assert!(excluded.iter().all(|id| !expected.contains(id)));
    }

    // An edit is seen by the very next search.
    assert!(ids(&kiln, "rating:>=4", SortBy::Relevance).is_empty());
    let rate = CurationEdit {
        rating: Some(4),
        ..CurationEdit::default()
    };
    engine.curate(vec![hashes[1]], rate).await.expect("rate");
    assert_eq!(ids(&kiln, "rating:>=4", SortBy::Relevance), vec![all[1]]);
    assert_eq!(
        ids(&kiln, "rating:>=4 tag:keeper", SortBy::Relevance),
        vec![]
    );
    assert_eq!(ids(&kiln, "rating:<4", SortBy::Relevance).len(), 23);
    kiln.shutdown().await.expect("shutdown");
}
