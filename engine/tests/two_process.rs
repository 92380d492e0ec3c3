//! Two processes on one store: while a child process runs the engine on a
//! batch, this process opens the same store as a client, reads it, and submits
//! an urgent file that the running engine picks up and finishes first.

mod common;

use kiln_engine::Tier;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::write_files;
use kiln_engine::{Config, Engine, EngineError, ImportState, Priority, Until};
use kiln_plugin_api::{Stage, StageError, StageInfo, StageInput, StageOutput, Value};

const ROLE: &str = "KILN_TEST_TWO_PROCESS_ROLE";
const STORE: &str = "KILN_TEST_TWO_PROCESS_STORE";
const INPUT: &str = "KILN_TEST_TWO_PROCESS_INPUT";

struct Sleepy {
    name: &'static str,
    tier: u8,
    after: Option<&'static str>,
}

impl Stage for Sleepy {
    fn info(&self) -> StageInfo {
        common::io_info(self.name, self.tier, self.after)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        std::thread::sleep(Duration::from_millis(8));
        Ok(StageOutput::facts(Value::map([(
            "path",
            Value::from(input.path.as_str()),
        )])))
    }
}

fn register(engine: &Engine) {
    let stages: [Arc<dyn Stage>; 2] = [
        Arc::new(Sleepy {
            name: "thumb",
            tier: 1,
            after: None,
        }),
        Arc::new(Sleepy {
            name: "meta",
            tier: 2,
            after: Some("thumb"),
        }),
    ];
    for stage in stages {
        engine.register_stage(stage).expect("register");
    }
}

fn config() -> Config {
    Config {
        workers: 2,
        claim_batch: 32,
        idle_poll: Duration::from_millis(20),
        ..Config::default()
    }
}

/// Opens `store` as the child does: as the primary, with both stages
/// registered and their graph valid.
fn open_primary(store: &Path) -> Engine {
    let engine = Engine::open(store, config()).expect("open");
    assert!(engine.is_primary());
    register(&engine);
    engine
        .validate()
        .expect("the primary's stages form a valid graph");
    engine
}

/// The child: the primary engine working through a batch. Without the role
/// variable (a normal test run) it only checks that the child's stages and
/// configuration open a fresh store as primary with a valid graph.
#[test]
fn primary_role() {
    let Ok(_) = std::env::var(ROLE) else {
        let work = tempfile::tempdir().expect("tempdir");
        let engine = open_primary(&work.path().join("store"));
        assert_eq!(engine.stages().len(), 2);
        return;
    };
    let store = PathBuf::from(std::env::var(STORE).expect("store"));
    let input = PathBuf::from(std::env::var(INPUT).expect("input"));
    common::runtime().block_on(async {
        common::import_then_announce(open_primary(&store), &input).await;
    });
    println!("PRIMARY FINISHED");
}

fn spawn_primary(store: &Path, input: &Path) -> std::process::Child {
    kiln_testkit::child::spawn_test(
        "primary_role",
        &[
            (ROLE, "primary".as_ref()),
            (STORE, store.as_os_str()),
            (INPUT, input.as_os_str()),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_reads_and_gets_an_urgent_file_done_during_a_batch() {
    if std::env::var(ROLE).is_ok() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("batch");
    write_files(&input, 250);
    let urgent = work.path().join("urgent.png");
    std::fs::write(&urgent, "urgent").expect("write");
    let store = work.path().join("store");

    let mut child = spawn_primary(&store, &input);
    let stdout = child.stdout.take().expect("child stdout");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .expect("child said something")
            .expect("read line");
        if line.contains("STARTED") {
            break;
        }
    }

    let client = Engine::open(&store, config()).expect("client open");
    assert!(
        !client.is_primary(),
        "the lock makes the second opener a client"
    );
    register(&client);
    assert!(matches!(client.start().await, Err(EngineError::NotPrimary)));
    assert!(
        matches!(client.manual(), Err(EngineError::NotPrimary)),
        "a client claims nothing by hand either"
    );

    // Reads answer while the other process works.
    let status = client.status().expect("status while running");
    assert_eq!(status.imports.len(), 1);
    let first = client.assets().expect("assets while running");
    assert!(!first.is_empty());
    assert!(
        client
            .asset(first[0].id)
            .expect("show while running")
            .is_some()
    );

    let import = client
        .submit_file(&urgent, Priority::Interactive)
        .await
        .expect("submit");
    client
        .wait_until(Until::Tier {
            tier: Tier::Searchable,
            imports: Some(vec![import]),
        })
        .await
        .expect("the running engine finishes the urgent file");
    let status = client.status().expect("status");
    let batch = status
        .imports
        .iter()
        .find(|i| i.id != import)
        .expect("batch import");
    assert_ne!(
        batch.state,
        ImportState::Done,
        "the urgent file finished before the batch"
    );
    let id = client
        .asset_by_path(&urgent)
        .expect("lookup")
        .expect("urgent asset");
    let asset = client.asset(id).expect("show").expect("asset");
    assert_eq!(asset.state.name(), "done");

    // The child finishes the batch and exits cleanly.
    let mut rest = String::new();
    for line in lines.map_while(Result::ok) {
        rest.push_str(&line);
    }
    assert!(child.wait().expect("child exit").success());
    assert!(rest.contains("PRIMARY FINISHED"));
    let done = client.status().expect("status");
    assert_eq!(done.jobs.done, 251 * 2);
    assert_eq!(done.jobs.running, 0, "the primary released everything");

    // With the primary gone, a client that runs takes over the engine.
    let late = work.path().join("late.png");
    std::fs::write(&late, "late").expect("write");
    let import = client
        .submit_file(&late, Priority::Batch)
        .await
        .expect("submit");
    client
        .run_until(Until::Tier {
            tier: Tier::Searchable,
            imports: Some(vec![import]),
        })
        .await
        .expect("run after promotion");
    assert!(client.is_primary(), "the client became the primary");
    let id = client
        .asset_by_path(&late)
        .expect("lookup")
        .expect("late asset");
    assert_eq!(
        client.asset(id).expect("show").expect("asset").state.name(),
        "done"
    );
    client.shutdown().await;
}
