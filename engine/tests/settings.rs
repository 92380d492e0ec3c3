//! An application's records in the store: written, listed by prefix,
//! replaced, removed, and still there after the store is reopened.

use kiln_engine::{Config, Engine};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_are_durable_and_listed_by_prefix() {
    let work = tempfile::tempdir().expect("tempdir");
    let store = work.path().join("store");
    {
        let engine = Engine::open(&store, Config::default()).expect("open");
        assert_eq!(engine.setting("model/a").expect("read"), None);
        assert!(
            !engine
                .put_setting("model/a", b"one".to_vec())
                .await
                .expect("put")
        );
        assert!(
            engine
                .put_setting("model/a", b"two".to_vec())
                .await
                .expect("put")
        );
        engine
            .put_setting("model/b", vec![0, 255])
            .await
            .expect("put");
        engine
            .put_setting("other", b"x".to_vec())
            .await
            .expect("put");
        engine.shutdown().await;
    }
    let engine = Engine::open(&store, Config::default()).expect("reopen");
    assert_eq!(
        engine.setting("model/a").expect("read"),
        Some(b"two".to_vec())
    );
    assert_eq!(
        engine.settings("model/").expect("list"),
        vec![
            ("model/a".to_owned(), b"two".to_vec()),
            ("model/b".to_owned(), vec![0, 255]),
        ]
    );
    assert!(engine.remove_setting("model/a").await.expect("remove"));
    assert!(!engine.remove_setting("model/a").await.expect("remove"));
    assert_eq!(engine.settings("model/").expect("list").len(), 1);
    engine.shutdown().await;
}
