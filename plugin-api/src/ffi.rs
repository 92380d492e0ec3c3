//! The plugin's side of the C ABI: what [`export_stage!`](crate::export_stage)
//! expands to, and every `unsafe` block of kiln-plugin-api.
//!
//! [`export_entry`] turns an ordinary [`Stage`] into a [`StageVTable`]; the
//! host turns the vtable back into a stage (that side is the engine's, in
//! `kiln-engine`'s `plugin` module). The layout both sides agree on is in
//! [`abi`](crate::abi), the messages in [`envelope`](crate::envelope).
//!
//! Invariants this side keeps:
//! - Only postcard bytes of the envelopes cross, as `(pointer, length)`
//!   pairs that are valid for the duration of one call.
//! - Bytes flow back only through the [`OutputSink`] the host passes to the
//!   call; the plugin never frees host memory.
//! - No panic unwinds across the boundary: every exported function runs the
//!   stage under `catch_unwind` and reports a panic as [`STATUS_PANIC`], with
//!   the panic message and its place in the sink.
//! - A panic inside an exported call prints nothing: the library's own copy
//!   of `std` would otherwise write its panic text straight to the host's
//!   stderr, into the progress display, unescaped. The host reports the
//!   panic instead, with the job. Panics elsewhere in the library (threads
//!   of its own) go to the panic hook that was there before.
//! - The vtable and the stage it points to are leaked, so they live for the
//!   rest of the process (the host never unloads a library).

use crate::Stage;
use crate::abi::{
    ABI_VERSION, FLAG_CONCURRENT, HostApi, OutputSink, STATUS_BAD_INPUT, STATUS_ENCODE_FAILED,
    STATUS_NULL_ARGUMENT, STATUS_OK, STATUS_PANIC, StageVTable, VTableHeader,
};
use crate::envelope::{self, DescriptorEnvelope, InputEnvelope, ReplyEnvelope, WireError};
use crate::log::{self, LogLevel};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;
use std::sync::atomic::{AtomicPtr, Ordering};

/// Generates the plugin entry symbol for a stage.
///
/// Write an ordinary `impl Stage` and name an expression that constructs it;
/// the macro emits `kiln_stage_v1`, which builds the stage once, wraps every
/// call in `catch_unwind` and speaks postcard envelopes to the host. Build the
/// crate with `crate-type = ["cdylib"]`, and use the macro exactly once per
/// library.
///
/// ```rust,standalone_crate
/// use kiln_plugin_api::{export_stage, Stage, StageError, StageInfo, StageInput, StageOutput, Value};
///
/// struct Orientation;
///
/// impl Stage for Orientation {
///     fn info(&self) -> StageInfo {
///         StageInfo::new("orientation", 1, 3)
///     }
///     fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
///         Ok(StageOutput::facts(Value::map([("path", Value::from(input.path.as_str()))])))
///     }
/// }
///
/// export_stage!(Orientation);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_stage {
    ($make:expr) => {
        const _: () = ::core::assert!(
            $crate::abi::ABI_VERSION == 1,
            "export_stage! emits `kiln_stage_v1`; update the symbol with the ABI major"
        );

        /// The kiln plugin entry point: returns this library's stage vtable.
        ///
        /// # Safety
        ///
        /// `host` is null or points to a `HostApi` that lives for the rest
        /// of the process; kiln's loader guarantees this.
        // SAFETY: `kiln_stage_v1` is the one name the kiln host looks up and
        // the macro is used once per library, so the symbol cannot clash.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn kiln_stage_v1(
            host: *const $crate::abi::HostApi,
        ) -> *const $crate::abi::StageVTable {
            // SAFETY: the caller guarantees `host` as documented above.
            unsafe { $crate::__private::export_entry(host, || $make) }
        }
    };
}

/// The host API of the process this copy of the crate runs in when it was
/// handed one by the host; null in the host itself.
static HOST: AtomicPtr<HostApi> = AtomicPtr::new(std::ptr::null_mut());

/// Builds the stage and its vtable; the body of the generated entry symbol.
/// Public (hidden, through `__private`) only for the macro's expansion.
///
/// Returns null if the constructor or [`Stage::info`] panicked.
///
/// # Safety
///
/// `host` is null or points to a [`HostApi`] that lives for the rest of the
/// process.
pub unsafe fn export_entry<T: Stage>(
    host: *const HostApi,
    make: impl FnOnce() -> T,
) -> *const StageVTable {
    if !host.is_null() {
        // SAFETY: the caller guarantees `host` points to a live HostApi. Only
        // its two-field header is read until version and size are checked,
        // and every HostApi version starts with that header.
        let header = unsafe { host.cast::<VTableHeader>().read() };
        if header.abi_version == ABI_VERSION
            && header.struct_size as usize >= std::mem::size_of::<HostApi>()
        {
            HOST.store(host.cast_mut(), Ordering::Release);
        }
    }
    let built = guarded(|| {
        let stage = make();
        let concurrent = stage.info().concurrent;
        (stage, concurrent)
    });
    let (stage, concurrent) = match built {
        Ok(built) => built,
        Err(payload) => {
            log::log(
                LogLevel::Error,
                "kiln-plugin",
                &format!(
                    "the stage constructor panicked: {}",
                    panic_message(payload.as_ref())
                ),
            );
            drop_payload(payload);
            return std::ptr::null();
        }
    };
    let stage: &'static T = Box::leak(Box::new(stage));
    let vtable: &'static StageVTable = Box::leak(Box::new(StageVTable {
        abi_version: ABI_VERSION,
        struct_size: vtable_size(),
        flags: if concurrent { FLAG_CONCURRENT } else { 0 },
        stage: std::ptr::from_ref(stage).cast(),
        describe: Some(describe_export::<T>),
        process: Some(process_export::<T>),
    }));
    vtable
}

fn vtable_size() -> u32 {
    // The vtable is a handful of words; the conversion cannot truncate.
    u32::try_from(std::mem::size_of::<StageVTable>()).unwrap_or(u32::MAX)
}

/// The sink of one call, borrowed for that call.
struct Sink<'a>(&'a OutputSink);

impl Sink<'_> {
    fn write(&self, bytes: &[u8]) {
        // SAFETY: a `Sink` is made only from the sink pointer the host passed
        // to this call, whose `write` copies `bytes` before returning and
        // whose `context` is valid until the call returns.
        unsafe { (self.0.write)(self.0.context, bytes.as_ptr(), bytes.len()) }
    }
}

/// The exported `describe` of a `T` stage.
///
/// # Safety
///
/// `stage` is the pointer this module stored in the vtable for `T`; `sink` is
/// null or valid for the call.
unsafe extern "C" fn describe_export<T: Stage>(
    stage: *const c_void,
    sink: *const OutputSink,
) -> i32 {
    if stage.is_null() || sink.is_null() {
        return STATUS_NULL_ARGUMENT;
    }
    // SAFETY: `stage` came from `Box::leak` of a `T` in `__export_entry` and
    // is never freed; `T: Sync`, so a shared reference from any thread is fine.
    let stage = unsafe { &*stage.cast::<T>() };
    // SAFETY: the host guarantees a non-null sink is valid for this call.
    let sink = Sink(unsafe { &*sink });
    let outcome = guarded(|| envelope::encode(&DescriptorEnvelope::V1(stage.info())));
    finish(
        &sink,
        outcome.map(|r| r.map_err(|e| (STATUS_ENCODE_FAILED, e))),
    )
}

/// The exported `process` of a `T` stage.
///
/// # Safety
///
/// As for [`describe_export`]; `input` is null with `input_len == 0`, or
/// points to `input_len` readable bytes for the call.
unsafe extern "C" fn process_export<T: Stage>(
    stage: *const c_void,
    input: *const u8,
    input_len: usize,
    sink: *const OutputSink,
) -> i32 {
    if stage.is_null() || sink.is_null() || (input.is_null() && input_len > 0) {
        return STATUS_NULL_ARGUMENT;
    }
    // SAFETY: as in `describe_export`.
    let stage = unsafe { &*stage.cast::<T>() };
    // SAFETY: the host guarantees a non-null sink is valid for this call.
    let sink = Sink(unsafe { &*sink });
    let input: &[u8] = if input_len == 0 {
        &[]
    } else {
        // SAFETY: the host guarantees `input_len` readable bytes at `input`,
        // unchanged for the duration of the call.
        unsafe { std::slice::from_raw_parts(input, input_len) }
    };
    let outcome = guarded(|| {
        let input = envelope::decode::<InputEnvelope>(input)
            .map_err(|e| (STATUS_BAD_INPUT, e))?
            .into_input();
        let reply = ReplyEnvelope::V1(stage.process(&input));
        envelope::encode(&reply).map_err(|e| (STATUS_ENCODE_FAILED, e))
    });
    finish(&sink, outcome)
}

/// What an exported call produced: encoded bytes, a failure status with its
/// reason, or a caught panic.
type ExportOutcome = Result<Result<Vec<u8>, (i32, WireError)>, Box<dyn Any + Send>>;

/// Writes the outcome of an exported call to the sink and returns its status.
fn finish(sink: &Sink<'_>, outcome: ExportOutcome) -> i32 {
    match outcome {
        Ok(Ok(bytes)) => {
            sink.write(&bytes);
            STATUS_OK
        }
        Ok(Err((status, error))) => {
            sink.write(error.to_string().as_bytes());
            status
        }
        Err(payload) => {
            sink.write(panic_message(payload.as_ref()).as_bytes());
            drop_payload(payload);
            STATUS_PANIC
        }
    }
}

thread_local! {
    /// Whether this thread is inside an exported call, where a panic is
    /// caught and reported to the host.
    static IN_CALL: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic caught in an exported call happened.
    static PANIC_PLACE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `call` as an exported call: under `catch_unwind`, with the panic
/// hook silent for it.
fn guarded<R>(call: impl FnOnce() -> R) -> Result<R, Box<dyn Any + Send>> {
    install_quiet_hook();
    let outer = IN_CALL.with(|c| c.replace(true));
    PANIC_PLACE.with(|p| p.borrow_mut().take());
    let outcome = catch_unwind(AssertUnwindSafe(call));
    IN_CALL.with(|c| c.set(outer));
    outcome
}

/// Replaces this library's panic hook, once, by one that records where a
/// panic inside an exported call happened instead of printing it, and
/// hands every other panic to the hook that was there before.
fn install_quiet_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CALL.with(Cell::get) {
                let place = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                PANIC_PLACE.with(|p| *p.borrow_mut() = place);
            } else {
                previous(info);
            }
        }));
    });
}

/// The panic's message, with where it happened when the hook saw it.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    let text = if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-text payload".to_owned()
    };
    match PANIC_PLACE.with(|p| p.borrow_mut().take()) {
        Some(place) => format!("{text} (at {place})"),
        None => text,
    }
}

/// Drops a panic payload without letting a panicking `Drop` escape.
fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(nested) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(nested);
    }
}

/// Sends a log message to the host if this copy of the crate runs inside a
/// plugin; returns false in the host itself.
pub(crate) fn forward_log_to_host(level: LogLevel, target: &str, message: &str) -> bool {
    let host = HOST.load(Ordering::Acquire);
    if host.is_null() {
        return false;
    }
    // SAFETY: `HOST` holds only a pointer the host passed to the entry symbol
    // after its version and size were checked; the host keeps it alive for
    // the rest of the process.
    let log_fn = unsafe { (*host).log };
    let Some(log_fn) = log_fn else {
        return true;
    };
    // SAFETY: both slices are valid for the call and the host copies them
    // before returning.
    unsafe {
        log_fn(
            level.as_raw(),
            target.as_ptr(),
            target.len(),
            message.as_ptr(),
            message.len(),
        );
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StageError, StageInfo, StageInput, StageOutput, Value};
    use std::borrow::Cow;

    struct Constant;

    impl Stage for Constant {
        fn info(&self) -> StageInfo {
            StageInfo::new("constant", 1, 3)
        }
        fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
            if input.path == "panic" {
                panic!("told to panic");
            }
            Ok(StageOutput::facts(Value::from(1u64)))
        }
    }

    fn exported() -> StageVTable {
        // SAFETY: a null host is allowed by the entry contract.
        let raw = unsafe { export_entry(std::ptr::null(), || Constant) };
        assert!(!raw.is_null());
        // SAFETY: a non-null vtable from `export_entry` is leaked, so valid.
        unsafe { raw.read() }
    }

    /// A host's sink for one call: appends to the `Vec<u8>` behind `context`.
    ///
    /// # Safety
    ///
    /// `context` is the `*mut Vec<u8>` of a [`call_with_sink`] in progress.
    unsafe extern "C" fn sink_write(context: *mut c_void, bytes: *const u8, len: usize) {
        // SAFETY: the exported functions pass a pointer to `len` bytes they own.
        let bytes = unsafe { std::slice::from_raw_parts(bytes, len) };
        // SAFETY: `call_with_sink` passes its own vector, untouched until the
        // call returns.
        unsafe { &mut *context.cast::<Vec<u8>>() }.extend_from_slice(bytes);
    }

    fn call_with_sink(call: impl FnOnce(*const OutputSink) -> i32) -> (i32, Vec<u8>) {
        let mut out: Vec<u8> = Vec::new();
        let sink = OutputSink {
            context: (&raw mut out).cast(),
            write: sink_write,
        };
        let status = call(&sink);
        (status, out)
    }

    fn raw_process(vtable: &StageVTable, input: &[u8]) -> (i32, Vec<u8>) {
        let process = vtable.process.expect("process is set");
        // SAFETY: the vtable is this module's own; input and sink are valid
        // for the call.
        call_with_sink(|sink| unsafe { process(vtable.stage, input.as_ptr(), input.len(), sink) })
    }

    fn encoded(input: StageInput) -> Vec<u8> {
        envelope::encode(&InputEnvelope::V1(Cow::Owned(input))).expect("encodes")
    }

    #[test]
    fn garbage_input_is_reported_not_misread() {
        let vtable = exported();
        let (status, message) = raw_process(&vtable, &[9, 9, 9]);
        assert_eq!(status, STATUS_BAD_INPUT);
        assert!(String::from_utf8_lossy(&message).contains("stage input"));
        let (status, _) = raw_process(&vtable, &[]);
        assert_eq!(status, STATUS_BAD_INPUT);
    }

    #[test]
    fn null_arguments_are_refused() {
        let vtable = exported();
        let process = vtable.process.expect("process is set");
        let describe = vtable.describe.expect("describe is set");
        // SAFETY: null pointers are checked before anything is dereferenced.
        unsafe {
            assert_eq!(
                describe(vtable.stage, std::ptr::null()),
                STATUS_NULL_ARGUMENT
            );
            assert_eq!(
                describe(std::ptr::null(), std::ptr::null()),
                STATUS_NULL_ARGUMENT
            );
            let (status, _) =
                call_with_sink(|sink| process(vtable.stage, std::ptr::null(), 4, sink));
            assert_eq!(status, STATUS_NULL_ARGUMENT);
        }
    }

    #[test]
    fn well_formed_input_round_trips() {
        let vtable = exported();
        let (status, reply) = raw_process(&vtable, &encoded(StageInput::for_path(3, "x")));
        assert_eq!(status, STATUS_OK);
        let reply = envelope::decode::<ReplyEnvelope>(&reply).expect("decodes");
        assert_eq!(
            reply.into_result(),
            Ok(StageOutput::facts(Value::from(1u64)))
        );
    }

    #[test]
    fn a_panic_is_reported_with_its_message_and_the_stage_still_works() {
        let vtable = exported();
        let (status, message) = raw_process(&vtable, &encoded(StageInput::for_path(1, "panic")));
        assert_eq!(status, STATUS_PANIC);
        let message = String::from_utf8_lossy(&message);
        let place = message
            .strip_prefix("told to panic (at ")
            .and_then(|rest| rest.strip_suffix(')'))
            .unwrap_or_else(|| panic!("the message and where it panicked: {message}"));
        assert!(place.starts_with("plugin-api/src/ffi.rs:"), "{place}");
        let (status, _) = raw_process(&vtable, &encoded(StageInput::for_path(2, "fine")));
        assert_eq!(status, STATUS_OK);
    }

    #[test]
    fn the_descriptor_is_the_stage_info() {
        let vtable = exported();
        let describe = vtable.describe.expect("describe is set");
        // SAFETY: the vtable is this module's own; the sink is valid for the call.
        let (status, bytes) = call_with_sink(|sink| unsafe { describe(vtable.stage, sink) });
        assert_eq!(status, STATUS_OK);
        let info = envelope::decode::<DescriptorEnvelope>(&bytes)
            .expect("decodes")
            .into_info();
        assert_eq!(info, Constant.info());
        assert_eq!(vtable.flags & FLAG_CONCURRENT, FLAG_CONCURRENT);
    }
}
