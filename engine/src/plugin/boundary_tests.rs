//! Both sides of the C ABI in one process: a stage exported with
//! `export_stage!` and opened again as a [`PluginStage`].
// The entry symbol `export_stage!` generates is `pub`, as a plugin's must be.
#![allow(unreachable_pub)]

use super::host::{EntryError, PluginStage};
use kiln_plugin_api::abi::{ABI_VERSION, HostApi, StageVTable};
use kiln_plugin_api::log::{LogLevel, set_log_handler};
use kiln_plugin_api::{Stage, StageError, StageInfo, StageInput, StageOutput, Value, export_stage};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A stage whose behaviour is chosen by the input path, and which notices if
/// it is ever entered twice at once.
#[derive(Default)]
struct Scripted {
    in_flight: AtomicUsize,
}

impl Stage for Scripted {
    fn info(&self) -> StageInfo {
        StageInfo::new("scripted", 4, 3)
            .after(["thumbnail"])
            .needs_proxy(true)
            .concurrent(false)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        let _entered = Entered::new(&self.in_flight)?;
        match input.path.as_str() {
            "panic" => panic!("scripted panic for {}", input.asset_id),
            "transient" => Err(StageError::transient("try later")),
            "permanent" => Err(StageError::permanent("corrupt")),
            "log" => {
                kiln_plugin_api::log::log(LogLevel::Warn, "scripted", "hello from the plugin");
                Ok(StageOutput::facts(Value::Null))
            }
            "slow" => {
                std::thread::sleep(std::time::Duration::from_millis(2));
                Ok(StageOutput::facts(Value::Null))
            }
            _ => Ok(StageOutput::facts(Value::map([
                ("asset", Value::from(input.asset_id)),
                ("facts_seen", Value::from(input.facts.len() as u64)),
                ("proxy", Value::from(input.proxy_path.clone())),
            ]))
            .with_artifact("note", "text/plain", b"hi".to_vec())),
        }
    }
}

/// Counts a call in flight for as long as it lives, even through a panic.
struct Entered<'a>(&'a AtomicUsize);

impl<'a> Entered<'a> {
    fn new(in_flight: &'a AtomicUsize) -> Result<Self, StageError> {
        let entered = Entered(in_flight);
        if in_flight.fetch_add(1, Ordering::SeqCst) != 0 {
            return Err(StageError::permanent("entered concurrently"));
        }
        Ok(entered)
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

export_stage!(Scripted::default());

fn open() -> PluginStage {
    // SAFETY: `kiln_stage_v1` is the entry point generated above, compiled
    // into this test binary, so it stays loaded.
    unsafe { PluginStage::open(kiln_stage_v1) }.expect("the exported stage opens")
}

#[test]
fn descriptor_crosses_intact() {
    let stage = open();
    let info = stage.info();
    assert_eq!(info, Scripted::default().info());
    assert!(!stage.is_concurrent());
}

#[test]
fn outputs_cross_intact() {
    let stage = open();
    let input = StageInput::for_path(42, "/a.png")
        .with_proxy_path("/blobs/p.webp")
        .with_stage_facts("hash", Value::from(7u64));
    let via_plugin = stage.process(&input).expect("processes");
    let in_process = Scripted::default().process(&input).expect("processes");
    assert_eq!(via_plugin, in_process);
    assert_eq!(
        via_plugin.facts.get("proxy").and_then(Value::as_str),
        Some("/blobs/p.webp")
    );
    assert_eq!(
        via_plugin.facts.get("facts_seen").and_then(Value::as_u64),
        Some(1)
    );
}

#[test]
fn typed_errors_cross_intact() {
    let stage = open();
    assert_eq!(
        stage.process(&StageInput::for_path(1, "transient")),
        Err(StageError::transient("try later"))
    );
    assert_eq!(
        stage.process(&StageInput::for_path(1, "permanent")),
        Err(StageError::permanent("corrupt"))
    );
}

#[test]
fn a_panic_fails_only_its_call_permanently() {
    let stage = open();
    let err = stage
        .process(&StageInput::for_path(5, "panic"))
        .expect_err("a panic is an error");
    assert!(!err.is_transient(), "a panic is not retried: {err}");
    assert!(err.message().contains("stage `scripted` panicked"), "{err}");
    assert!(err.message().contains("scripted panic for 5"), "{err}");
    let out = stage
        .process(&StageInput::for_path(6, "/after.png"))
        .expect("the stage still works after a panic");
    assert_eq!(out.facts.get("asset").and_then(Value::as_u64), Some(6));
}

#[test]
fn non_concurrent_stages_are_serialised() {
    let stage = open();
    let results: Vec<Result<StageOutput, StageError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| stage.process(&StageInput::for_path(1, "slow"))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker thread"))
            .collect()
    });
    for result in results {
        assert_eq!(result, Ok(StageOutput::facts(Value::Null)));
    }
}

static LOGGED: Mutex<Vec<(LogLevel, String, String)>> = Mutex::new(Vec::new());

#[test]
fn plugin_logs_reach_the_host_handler() {
    set_log_handler(Some(|level, target, message| {
        if let Ok(mut logged) = LOGGED.lock() {
            logged.push((level, target.to_owned(), message.to_owned()));
        }
    }));
    let stage = open();
    stage
        .process(&StageInput::for_path(1, "log"))
        .expect("processes");
    let logged = LOGGED.lock().expect("log lock");
    assert!(
        logged.contains(&(
            LogLevel::Warn,
            "scripted".to_owned(),
            "hello from the plugin".to_owned()
        )),
        "{logged:?}"
    );
}

fn leak(vtable: StageVTable) -> *const StageVTable {
    Box::leak(Box::new(vtable))
}

fn base_vtable() -> StageVTable {
    StageVTable {
        abi_version: ABI_VERSION,
        struct_size: std::mem::size_of::<StageVTable>() as u32,
        flags: 0,
        stage: std::ptr::null(),
        describe: None,
        process: None,
    }
}

unsafe extern "C" fn future_abi(_host: *const HostApi) -> *const StageVTable {
    leak(StageVTable {
        abi_version: ABI_VERSION + 1,
        ..base_vtable()
    })
}

unsafe extern "C" fn short_vtable(_host: *const HostApi) -> *const StageVTable {
    leak(StageVTable {
        struct_size: 8,
        ..base_vtable()
    })
}

unsafe extern "C" fn no_functions(_host: *const HostApi) -> *const StageVTable {
    leak(StageVTable {
        stage: std::ptr::NonNull::<u8>::dangling().as_ptr().cast(),
        ..base_vtable()
    })
}

unsafe extern "C" fn null_entry(_host: *const HostApi) -> *const StageVTable {
    std::ptr::null()
}

#[test]
fn malformed_vtables_are_rejected_before_use() {
    // SAFETY: each fake entry returns null or a leaked vtable; `open` rejects
    // them from the header or from null fields, never calling through them.
    let open_fake = |entry| unsafe { PluginStage::open(entry) }.map(|_| ());
    assert_eq!(
        open_fake(future_abi),
        Err(EntryError::AbiMismatch {
            plugin: ABI_VERSION + 1,
        })
    );
    assert!(matches!(
        open_fake(short_vtable),
        Err(EntryError::VTableTooSmall { declared: 8, .. })
    ));
    assert_eq!(
        open_fake(no_functions),
        Err(EntryError::MissingFunction("describe"))
    );
    assert_eq!(open_fake(null_entry), Err(EntryError::ReturnedNull));
}

struct PanickingConstructor;

impl Stage for PanickingConstructor {
    fn info(&self) -> StageInfo {
        panic!("info is broken")
    }
    fn process(&self, _input: &StageInput) -> Result<StageOutput, StageError> {
        Ok(StageOutput::facts(Value::Null))
    }
}

unsafe extern "C" fn panicking_entry(host: *const HostApi) -> *const StageVTable {
    // SAFETY: `host` is passed through unchanged from the host.
    unsafe { kiln_plugin_api::__private::export_entry(host, || PanickingConstructor) }
}

#[test]
fn a_panicking_constructor_loads_nothing() {
    // SAFETY: `panicking_entry` follows the entry contract.
    let result = unsafe { PluginStage::open(panicking_entry) };
    assert_eq!(result.map(|_| ()), Err(EntryError::ReturnedNull));
}

#[test]
fn entry_errors_say_what_to_do() {
    let mismatch = EntryError::AbiMismatch { plugin: 2 }.to_string();
    assert!(
        mismatch.contains("ABI version 2") && mismatch.contains("rebuild"),
        "{mismatch}"
    );
}
