//! A plugin stage that panics inside `process` for every path containing
//! `panic` (which fails that job permanently, as any stage's panic does) and
//! returns a small fact set otherwise. It declares itself not
//! concurrent and fails any call that overlaps another, so tests can also
//! see that the host serialises its calls. It logs through the host: an
//! error naming the path before it panics, an info line for every other
//! path, so tests can see where a plugin's log messages end up.

use kiln_plugin_api::log::{LogLevel, log};
use kiln_plugin_api::{
    Stage, StageError, StageInfo, StageInput, StageOutput, TIER_ENRICHED, Value, export_stage,
};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The stage; see the crate documentation.
#[derive(Debug, Default)]
pub struct PanicStage {
    in_flight: AtomicUsize,
}

/// Counts one call in flight for as long as it lives, also through a panic.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Stage for PanicStage {
    fn info(&self) -> StageInfo {
        StageInfo::new("test-panic", 1, TIER_ENRICHED).concurrent(false)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        let previous = self.in_flight.fetch_add(1, Ordering::SeqCst);
        let _in_flight = InFlight(&self.in_flight);
        if previous != 0 {
            return Err(StageError::permanent(
                "test-panic was called concurrently although it is not concurrent",
            ));
        }
        if input.path.contains("panic") {
            log(
                LogLevel::Error,
                "test-panic",
                &format!("about to panic on {}", input.path),
            );
            panic!("test-panic was told to panic on {}", input.path);
        }
        log(
            LogLevel::Info,
            "test-panic",
            &format!("processing {}", input.path),
        );
        // Long enough for overlapping calls to be seen if the host allowed them.
        std::thread::sleep(std::time::Duration::from_millis(1));
        Ok(StageOutput::facts(Value::map([
            ("asset_id", Value::from(input.asset_id)),
            ("path_bytes", Value::from(input.path.len() as u64)),
        ])))
    }
}

export_stage!(PanicStage::default());
