//! The plugin boundary: both sides of the C ABI, and every `unsafe` block of
//! kiln-plugin-api.
//!
//! The *export* side turns an ordinary [`Stage`] into a [`StageVTable`]
//! ([`export_stage!`](crate::export_stage) generates the entry symbol that
//! calls it). The *host* side, [`PluginStage`], turns a vtable back into an
//! ordinary [`Stage`]. Keeping both here means one module holds every
//! assumption the two sides make about each other, and Miri can run both
//! within one process.
//!
//! Invariants both sides keep:
//! - Only postcard bytes of the [envelopes](crate::envelope) cross, as
//!   `(pointer, length)` pairs that are valid for the duration of one call.
//! - Bytes flow back only through an [`OutputSink`] the host owns; the plugin
//!   never frees host memory and the host never frees plugin memory.
//! - No panic unwinds across the boundary: every exported function runs the
//!   stage under `catch_unwind` and reports a panic as [`STATUS_PANIC`].
//! - The vtable and the stage it points to are leaked by the plugin and the
//!   library is never unloaded, so both live for the rest of the process.

use crate::abi::{
    ABI_VERSION, DescribeFn, EntryFn, FLAG_CONCURRENT, HostApi, OutputSink, ProcessFn,
    STATUS_BAD_INPUT, STATUS_ENCODE_FAILED, STATUS_NULL_ARGUMENT, STATUS_OK, STATUS_PANIC,
    StageVTable, VTableHeader, status_name,
};
use crate::envelope::{self, DescriptorEnvelope, InputEnvelope, ReplyEnvelope, WireError};
use crate::log::{self, LogLevel};
use crate::{Stage, StageError, StageInfo, StageInput, StageOutput};
use std::any::Any;
use std::borrow::Cow;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Mutex, PoisonError};

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
            unsafe { $crate::ffi::__export_entry(host, || $make) }
        }
    };
}

/// The host API of the process this copy of the crate runs in when it was
/// handed one by the host; null in the host itself.
static HOST: AtomicPtr<HostApi> = AtomicPtr::new(std::ptr::null_mut());

/// Builds the stage and its vtable; the body of the generated entry symbol.
///
/// Returns null if the constructor or [`Stage::info`] panicked.
///
/// # Safety
///
/// `host` is null or points to a [`HostApi`] that lives for the rest of the
/// process.
#[doc(hidden)]
pub unsafe fn __export_entry<T: Stage>(
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
    let built = catch_unwind(AssertUnwindSafe(|| {
        let stage = make();
        let concurrent = stage.info().concurrent;
        (stage, concurrent)
    }));
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
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        envelope::encode(&DescriptorEnvelope::V1(stage.info()))
    }));
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
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let input = envelope::decode::<InputEnvelope>(input)
            .map_err(|e| (STATUS_BAD_INPUT, e))?
            .into_input();
        let reply = ReplyEnvelope::V1(stage.process(&input));
        envelope::encode(&reply).map_err(|e| (STATUS_ENCODE_FAILED, e))
    }));
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

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-text payload".to_owned()
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

/// The host's side of the log callback.
///
/// # Safety
///
/// Each pointer is null with a zero length or points to that many bytes.
unsafe extern "C" fn host_log(
    level: u32,
    target: *const u8,
    target_len: usize,
    message: *const u8,
    message_len: usize,
) {
    // SAFETY: guaranteed by the caller as documented above.
    let target = unsafe { bytes_from_raw(target, target_len) };
    // SAFETY: guaranteed by the caller as documented above.
    let message = unsafe { bytes_from_raw(message, message_len) };
    let level = LogLevel::from_raw(level).unwrap_or(LogLevel::Info);
    let target = String::from_utf8_lossy(target);
    let message = String::from_utf8_lossy(message);
    // A panicking log handler must not unwind into the plugin.
    let _ = catch_unwind(|| log::dispatch(level, &target, &message));
}

/// # Safety
///
/// `ptr` is null or points to `len` readable bytes that outlive `'a`.
unsafe fn bytes_from_raw<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: guaranteed by the caller as documented above.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

static HOST_API: HostApi = HostApi {
    abi_version: ABI_VERSION,
    struct_size: std::mem::size_of::<HostApi>() as u32,
    log: Some(host_log),
};

/// The host's sink: appends to the `Vec<u8>` that `context` points to.
///
/// # Safety
///
/// `context` is the `*mut Vec<u8>` of a [`call_with_sink`] in progress;
/// `bytes` is null with `len == 0` or points to `len` readable bytes.
unsafe extern "C" fn host_sink_write(context: *mut c_void, bytes: *const u8, len: usize) {
    if context.is_null() {
        return;
    }
    // SAFETY: guaranteed by the caller as documented above.
    let bytes = unsafe { bytes_from_raw(bytes, len) };
    // SAFETY: `call_with_sink` passes a pointer to its own `Vec<u8>`, which it
    // does not touch until the plugin call that may write here has returned.
    let out = unsafe { &mut *context.cast::<Vec<u8>>() };
    out.extend_from_slice(bytes);
}

/// Runs one plugin call with a fresh sink and returns its status and bytes.
fn call_with_sink(call: impl FnOnce(*const OutputSink) -> i32) -> (i32, Vec<u8>) {
    let mut out: Vec<u8> = Vec::new();
    let sink = OutputSink {
        context: (&raw mut out).cast(),
        write: host_sink_write,
    };
    let status = call(&sink);
    (status, out)
}

/// A plugin could not be opened.
///
/// ```
/// use kiln_plugin_api::ffi::OpenError;
/// let err = OpenError::AbiMismatch { plugin: 2, host: 1 };
/// assert!(err.to_string().contains("ABI version 2"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// The entry symbol returned null: the stage constructor panicked.
    EntryReturnedNull,
    /// The plugin was built for another ABI version.
    AbiMismatch {
        /// The version in the plugin's vtable.
        plugin: u32,
        /// The version this host speaks.
        host: u32,
    },
    /// The vtable is smaller than the version it claims.
    VTableTooSmall {
        /// The size the plugin declared.
        declared: u32,
        /// The least size version 1 needs.
        required: u32,
    },
    /// A required vtable entry is null.
    MissingFunction(&'static str),
    /// `describe` returned an error status.
    DescribeFailed {
        /// The status code.
        status: i32,
        /// What the plugin said.
        message: String,
    },
    /// The descriptor did not decode.
    DescriptorDecode(WireError),
    /// The descriptor decoded but declares something impossible.
    InvalidDescriptor(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::EntryReturnedNull => write!(
                f,
                "the entry symbol returned no stage (its constructor panicked; see the log)"
            ),
            OpenError::AbiMismatch { plugin, host } => write!(
                f,
                "the plugin was built for plugin ABI version {plugin} but this kiln speaks \
                 version {host}; rebuild the plugin against a matching kiln-plugin-api"
            ),
            OpenError::VTableTooSmall { declared, required } => write!(
                f,
                "the plugin's vtable is {declared} bytes but ABI version {ABI_VERSION} needs at \
                 least {required}; the plugin is malformed"
            ),
            OpenError::MissingFunction(name) => {
                write!(
                    f,
                    "the plugin's vtable has no `{name}`; the plugin is malformed"
                )
            }
            OpenError::DescribeFailed { status, message } => write!(
                f,
                "the plugin failed to describe its stage ({}): {message}",
                status_name(*status)
            ),
            OpenError::DescriptorDecode(e) => write!(f, "the stage descriptor is unreadable: {e}"),
            OpenError::InvalidDescriptor(why) => {
                write!(f, "the stage descriptor is invalid: {why}")
            }
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::DescriptorDecode(e) => Some(e),
            _ => None,
        }
    }
}

/// A stage that lives in a plugin, used through the ordinary [`Stage`] trait.
///
/// Each call encodes the input, crosses the boundary once and decodes the
/// reply. A panic inside the plugin becomes a [`StageError::Transient`], so
/// the engine retries the job and dead-letters it once its attempts run out;
/// an undecodable reply or input becomes [`StageError::Permanent`]. When the
/// plugin does not declare itself concurrent, calls are serialised.
///
/// ```rust,standalone_crate
/// use kiln_plugin_api::{export_stage, PluginStage, Stage, StageError, StageInfo, StageInput, StageOutput, Value};
///
/// struct Echo;
/// impl Stage for Echo {
///     fn info(&self) -> StageInfo { StageInfo::new("echo", 1, 3).concurrent(false) }
///     fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
///         Ok(StageOutput::facts(Value::from(input.path.as_str())))
///     }
/// }
/// export_stage!(Echo);
///
/// # fn main() {
/// // SAFETY: `kiln_stage_v1` is a kiln entry point compiled into this program.
/// let stage = unsafe { PluginStage::open(kiln_stage_v1) }.unwrap();
/// assert_eq!(stage.info().name, "echo");
/// assert!(!stage.is_concurrent());
/// let out = stage.process(&StageInput::for_path(1, "/a.png")).unwrap();
/// assert_eq!(out.facts.as_str(), Some("/a.png"));
/// # }
/// ```
#[derive(Debug)]
pub struct PluginStage {
    vtable: StageVTable,
    process: ProcessFn,
    info: StageInfo,
    serial: Option<Mutex<()>>,
}

// SAFETY: the only non-thread-safe fields are the vtable's raw pointers. The
// vtable and its stage live for the rest of the process; the ABI requires the
// plugin's functions to be callable from any thread (the export side only
// accepts `Stage: Send + Sync`), and calls into a stage that does not declare
// itself concurrent are serialised by `serial`.
unsafe impl Send for PluginStage {}
// SAFETY: as for `Send`.
unsafe impl Sync for PluginStage {}

impl PluginStage {
    /// Calls a plugin's entry point, checks the ABI version and vtable size
    /// before reading anything else, and asks the stage to describe itself.
    ///
    /// # Safety
    ///
    /// `entry` must be the kiln entry point (`kiln_stage_v1`) of a library
    /// that stays loaded for the rest of the process, built to this ABI's
    /// contract (as [`export_stage!`](crate::export_stage) does).
    pub unsafe fn open(entry: EntryFn) -> Result<PluginStage, OpenError> {
        // SAFETY: the caller guarantees `entry` is a kiln entry point; it gets
        // the host API, which is a static and so outlives the plugin.
        let raw = unsafe { entry(&HOST_API) };
        if raw.is_null() {
            return Err(OpenError::EntryReturnedNull);
        }
        // SAFETY: a non-null vtable pointer from the entry point is valid for
        // the rest of the process. Only the two-field header that every ABI
        // version starts with is read before version and size are checked.
        let header = unsafe { raw.cast::<VTableHeader>().read() };
        if header.abi_version != ABI_VERSION {
            return Err(OpenError::AbiMismatch {
                plugin: header.abi_version,
                host: ABI_VERSION,
            });
        }
        if header.struct_size < vtable_size() {
            return Err(OpenError::VTableTooSmall {
                declared: header.struct_size,
                required: vtable_size(),
            });
        }
        // SAFETY: the plugin speaks this ABI version and its vtable is at
        // least as large as this version's layout, so every field is there.
        let vtable = unsafe { raw.read() };
        if vtable.stage.is_null() {
            return Err(OpenError::MissingFunction("stage"));
        }
        let describe: DescribeFn = vtable
            .describe
            .ok_or(OpenError::MissingFunction("describe"))?;
        let process: ProcessFn = vtable
            .process
            .ok_or(OpenError::MissingFunction("process"))?;
        // SAFETY: `describe` and `stage` come from a checked vtable; the sink
        // is valid for the duration of the call.
        let (status, bytes) = call_with_sink(|sink| unsafe { describe(vtable.stage, sink) });
        if status != STATUS_OK {
            return Err(OpenError::DescribeFailed {
                status,
                message: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        let mut info = envelope::decode::<DescriptorEnvelope>(&bytes)
            .map_err(OpenError::DescriptorDecode)?
            .into_info();
        validate(&info)?;
        info.concurrent = info.concurrent && vtable.flags & FLAG_CONCURRENT != 0;
        let serial = (!info.concurrent).then(|| Mutex::new(()));
        Ok(PluginStage {
            vtable,
            process,
            info,
            serial,
        })
    }

    /// Whether calls may run at the same time; when false the host serialises
    /// them.
    ///
    /// ```
    /// # use kiln_plugin_api::PluginStage;
    /// fn describe(stage: &PluginStage) -> &'static str {
    ///     if stage.is_concurrent() { "parallel" } else { "one at a time" }
    /// }
    /// ```
    pub fn is_concurrent(&self) -> bool {
        self.serial.is_none()
    }

    fn call_process(&self, input: &[u8]) -> (i32, Vec<u8>) {
        let _serialised = self
            .serial
            .as_ref()
            .map(|lock| lock.lock().unwrap_or_else(PoisonError::into_inner));
        // SAFETY: `process` and `stage` come from a vtable checked in `open`;
        // `input` and the sink are valid for the duration of the call; a stage
        // that is not concurrent is only called under `serial`.
        call_with_sink(|sink| unsafe {
            (self.process)(self.vtable.stage, input.as_ptr(), input.len(), sink)
        })
    }
}

fn validate(info: &StageInfo) -> Result<(), OpenError> {
    if info.name.is_empty() || info.name.len() > 128 {
        return Err(OpenError::InvalidDescriptor(format!(
            "the stage name must be 1 to 128 bytes, not {}",
            info.name.len()
        )));
    }
    if info.name.chars().any(char::is_control) {
        return Err(OpenError::InvalidDescriptor(format!(
            "the stage name {:?} contains control characters",
            info.name
        )));
    }
    if !(crate::TIER_BROWSABLE..=crate::TIER_ENRICHED).contains(&info.tier) {
        return Err(OpenError::InvalidDescriptor(format!(
            "stage `{}` declares tier {}; tiers are 1 to 3",
            info.name, info.tier
        )));
    }
    Ok(())
}

impl Stage for PluginStage {
    fn info(&self) -> StageInfo {
        self.info.clone()
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        let name = &self.info.name;
        let bytes = envelope::encode(&InputEnvelope::V1(Cow::Borrowed(input)))
            .map_err(|e| StageError::permanent(format!("plugin stage `{name}`: {e}")))?;
        let (status, reply) = self.call_process(&bytes);
        match status {
            STATUS_OK => match envelope::decode::<ReplyEnvelope>(&reply) {
                Ok(reply) => reply.into_result(),
                Err(e) => Err(StageError::permanent(format!("plugin stage `{name}`: {e}"))),
            },
            STATUS_PANIC => Err(StageError::transient(format!(
                "plugin stage `{name}` panicked: {}",
                String::from_utf8_lossy(&reply)
            ))),
            other => Err(StageError::permanent(format!(
                "plugin stage `{name}` failed ({}, status {other}): {}",
                status_name(other),
                String::from_utf8_lossy(&reply)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;

    struct Constant;

    impl Stage for Constant {
        fn info(&self) -> StageInfo {
            StageInfo::new("constant", 1, 3)
        }
        fn process(&self, _input: &StageInput) -> Result<StageOutput, StageError> {
            Ok(StageOutput::facts(Value::from(1u64)))
        }
    }

    fn exported() -> StageVTable {
        // SAFETY: a null host is allowed by the entry contract.
        let raw = unsafe { __export_entry(std::ptr::null(), || Constant) };
        assert!(!raw.is_null());
        // SAFETY: a non-null vtable from `__export_entry` is leaked, so valid.
        unsafe { raw.read() }
    }

    fn raw_process(vtable: &StageVTable, input: &[u8]) -> (i32, Vec<u8>) {
        let process = vtable.process.expect("process is set");
        // SAFETY: the vtable is this module's own; input and sink are valid
        // for the call.
        call_with_sink(|sink| unsafe { process(vtable.stage, input.as_ptr(), input.len(), sink) })
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
        let input = envelope::encode(&InputEnvelope::V1(Cow::Owned(StageInput::for_path(3, "x"))))
            .expect("encodes");
        let (status, reply) = raw_process(&vtable, &input);
        assert_eq!(status, STATUS_OK);
        let reply = envelope::decode::<ReplyEnvelope>(&reply).expect("decodes");
        assert_eq!(
            reply.into_result(),
            Ok(StageOutput::facts(Value::from(1u64)))
        );
    }
}
