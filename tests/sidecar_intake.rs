//! Taking curation from XMP sidecars: only the sidecars under the roots
//! are opened, each once until it changes, the first sidecar of a content
//! wins, and a sidecar whose image is not imported yet waits for a later
//! look.

mod common;

use common::{import_until, open, write_png};
use kiln::Kiln;
use kiln::engine::{Priority, Tier, Until};
use kiln::xmp::{SidecarIntake, packet, sidecar_path};
use std::path::{Path, PathBuf};

async fn import(kiln: &Kiln, folder: &Path) {
    import_until(kiln, folder, Tier::Searchable).await;
}

fn rating_of(kiln: &Kiln, image: &Path) -> Option<u8> {
    let engine = kiln.engine();
    let id = engine
        .asset_by_path(image)
        .expect("lookup")
        .expect("imported");
    let hash = engine.content_hashes(&[id]).expect("hash")[0].expect("hashed");
    engine.curation(&hash).expect("curation").map(|c| c.rating)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecars_are_read_once_and_only_for_imported_images() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let input = tmp.path().join("in");
    let nested = input.join("day 2").join("evening");
    std::fs::create_dir_all(&nested).expect("folders");
    std::fs::create_dir_all(input.join(".hidden")).expect("hidden");
    let a = input.join("a.png");
    let b = nested.join("b.png");
    let c = input.join("c.png");
    write_png(&a, 1);
    write_png(&b, 2);
    write_png(&c, 3);
    std::fs::write(sidecar_path(&a), packet(4, &["sunset".to_owned()])).expect("a");
    std::fs::write(sidecar_path(&b), packet(2, &[])).expect("b");
    std::fs::write(sidecar_path(&c), "<x:xmpmeta><unclosed").expect("c");
    // A sidecar in a hidden folder, beside an image imported on its own:
    // a walk of `in` does not enter the folder, so it is not read. And a
    // sidecar whose image is not there.
    let hidden = input.join(".hidden").join("x.png");
    write_png(&hidden, 7);
    std::fs::write(sidecar_path(&hidden), packet(5, &[])).expect("x");
    std::fs::write(input.join("gone.png.xmp"), packet(5, &[])).expect("gone");
    // A loop of folders: the walk ends (each folder is entered once).
    #[cfg(unix)]
    std::os::unix::fs::symlink(&input, nested.join("back")).expect("symlink");

    let kiln = open(&tmp.path().join("store"));
    import(&kiln, &input).await;
    let alone = kiln
        .engine()
        .submit_file(&hidden, Priority::Interactive)
        .await
        .expect("submit");
    kiln.run_until(Until::Tier {
        tier: Tier::Searchable,
        imports: Some(vec![alone]),
    })
    .await
    .expect("run");
    let roots: Vec<PathBuf> = vec![input.clone()];
    let mut intake = SidecarIntake::default();

    let first = intake.take(kiln.engine(), &roots).await.expect("take");
    assert_eq!(first.read, 2, "a and b are read, c is not XML: {first:?}");
    assert_eq!(first.taken, 2);
    assert_eq!(first.problems.len(), 1, "{first:?}");
    assert_eq!(first.problems[0].0, sidecar_path(&c));
    assert!(first.problems[0].1.contains("XML"), "{first:?}");
    assert_eq!(rating_of(&kiln, &a), Some(4));
    assert_eq!(rating_of(&kiln, &b), Some(2));
    assert_eq!(rating_of(&kiln, &c), None);
    assert_eq!(
        rating_of(&kiln, &hidden),
        None,
        "not read from a hidden folder"
    );

    // Looking again reads nothing and warns about nothing.
    let again = intake.take(kiln.engine(), &roots).await.expect("take");
    assert_eq!(again.read, 0, "{again:?}");
    assert!(again.problems.is_empty(), "{again:?}");

    // c's sidecar is fixed: read at the next look. a's changes: read again,
    // but a's content already has its curation, which stays.
    std::fs::write(sidecar_path(&c), packet(3, &[])).expect("c fixed");
    std::fs::write(sidecar_path(&a), packet(1, &["changed".to_owned()])).expect("a again");
    let third = intake.take(kiln.engine(), &roots).await.expect("take");
    assert_eq!(
        third.read, 1,
        "only c is read: a's content is curated: {third:?}"
    );
    assert_eq!(third.taken, 1);
    assert_eq!(rating_of(&kiln, &c), Some(3));
    assert_eq!(rating_of(&kiln, &a), Some(4));

    // The image of a waiting sidecar arrives and is imported: its sidecar is
    // taken then.
    let gone = input.join("gone.png");
    write_png(&gone, 9);
    import(&kiln, &input).await;
    let fourth = intake.take(kiln.engine(), &roots).await.expect("take");
    assert_eq!((fourth.read, fourth.taken), (1, 1), "{fourth:?}");
    assert_eq!(rating_of(&kiln, &gone), Some(5));

    // A file given as a root has its own sidecar looked at, alone.
    let d = tmp.path().join("d.png");
    write_png(&d, 12);
    std::fs::write(sidecar_path(&d), packet(5, &["single".to_owned()])).expect("d");
    let import_d = kiln
        .engine()
        .submit_file(&d, Priority::Interactive)
        .await
        .expect("submit");
    kiln.run_until(Until::Tier {
        tier: Tier::Searchable,
        imports: Some(vec![import_d]),
    })
    .await
    .expect("run");
    let single = intake
        .take(kiln.engine(), std::slice::from_ref(&d))
        .await
        .expect("take");
    assert_eq!((single.read, single.taken), (1, 1), "{single:?}");
    assert_eq!(rating_of(&kiln, &d), Some(5));
}
