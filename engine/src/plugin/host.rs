//! The host's side of the C ABI: turns a plugin's vtable back into an
//! ordinary [`Stage`], and offers the plugin the host API (its log).
//!
//! The layout and messages both sides agree on are `kiln_plugin_api::abi`
//! and `kiln_plugin_api::envelope`; the plugin's side is what
//! `kiln_plugin_api::export_stage!` expands to. Invariants this side keeps:
//! - Nothing past a vtable's two-field header is read before its ABI version
//!   and size are checked.
//! - Bytes come back only through an [`OutputSink`] this module owns for the
//!   duration of one call, so the host never frees plugin memory and the
//!   plugin never frees host memory.
//! - A plugin that does not declare itself concurrent is called under a
//!   mutex, so never concurrently.
//! - A panic inside the plugin arrives as `STATUS_PANIC` and fails that job
//!   permanently, with the panic message, as a built-in stage's panic does.

use kiln_plugin_api::abi::{
    ABI_VERSION, DescribeFn, EntryFn, FLAG_CONCURRENT, HostApi, OutputSink, ProcessFn, STATUS_OK,
    STATUS_PANIC, StageVTable, VTableHeader, status_name,
};
use kiln_plugin_api::envelope::{
    self, DescriptorEnvelope, InputEnvelope, ReplyEnvelope, WireError,
};
use kiln_plugin_api::log::{self, LogLevel};
use kiln_plugin_api::{Stage, StageError, StageInfo, StageInput, StageOutput};
use std::borrow::Cow;
use std::ffi::c_void;
use std::panic::catch_unwind;
use std::sync::{Mutex, PoisonError};

/// Why a plugin's entry point or vtable was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryError {
    /// The entry symbol returned null: the stage constructor panicked.
    ReturnedNull,
    /// The plugin was built for another ABI version.
    AbiMismatch {
        /// The version in the plugin's vtable.
        plugin: u32,
    },
    /// The vtable is smaller than the version it claims.
    VTableTooSmall {
        /// The size the plugin declared.
        declared: u32,
        /// The least size this version needs.
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

impl std::fmt::Display for EntryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntryError::ReturnedNull => write!(
                f,
                "the entry symbol returned no stage (its constructor panicked; see the log)"
            ),
            EntryError::AbiMismatch { plugin } => write!(
                f,
                "the plugin was built for plugin ABI version {plugin} but this kiln speaks \
                 version {ABI_VERSION}; rebuild the plugin against a matching kiln-plugin-api"
            ),
            EntryError::VTableTooSmall { declared, required } => write!(
                f,
                "the plugin's vtable is {declared} bytes but ABI version {ABI_VERSION} needs at \
                 least {required}; the plugin is malformed"
            ),
            EntryError::MissingFunction(name) => write!(
                f,
                "the plugin's vtable has no `{name}`; the plugin is malformed"
            ),
            EntryError::DescribeFailed { status, message } => write!(
                f,
                "the plugin failed to describe its stage ({}): {message}",
                status_name(*status)
            ),
            EntryError::DescriptorDecode(e) => write!(f, "the stage descriptor is unreadable: {e}"),
            EntryError::InvalidDescriptor(why) => {
                write!(f, "the stage descriptor is invalid: {why}")
            }
        }
    }
}

/// What the host offers every plugin; a static, so it outlives them all.
static HOST_API: HostApi = HostApi {
    abi_version: ABI_VERSION,
    struct_size: size_u32(std::mem::size_of::<HostApi>()),
    log: Some(host_log),
};

/// A size of an ABI struct as the `u32` the ABI stores; these structs are a
/// handful of words, so the conversion cannot truncate.
const fn size_u32(size: usize) -> u32 {
    assert!(size <= u32::MAX as usize);
    size as u32
}

/// The size of a version-1 vtable, the least a plugin's may declare.
const VTABLE_SIZE: u32 = size_u32(std::mem::size_of::<StageVTable>());

/// The host's side of the log callback: hands the message to the handler
/// installed with `kiln_plugin_api::log::set_log_handler`.
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

/// A stage that lives in a plugin, used through the ordinary [`Stage`] trait.
///
/// Each call encodes the input, crosses the boundary once and decodes the
/// reply. A panic inside the plugin, an undecodable reply and an input that
/// cannot be encoded all become [`StageError::Permanent`]: the same input
/// would fail the same way again. When the plugin does not declare itself
/// concurrent, calls are serialised.
#[derive(Debug)]
pub(crate) struct PluginStage {
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
    /// contract (as `export_stage!` does).
    pub(crate) unsafe fn open(entry: EntryFn) -> Result<PluginStage, EntryError> {
        // SAFETY: the caller guarantees `entry` is a kiln entry point; it gets
        // the host API, which is a static and so outlives the plugin.
        let raw = unsafe { entry(&HOST_API) };
        if raw.is_null() {
            return Err(EntryError::ReturnedNull);
        }
        // SAFETY: a non-null vtable pointer from the entry point is valid for
        // the rest of the process. Only the two-field header that every ABI
        // version starts with is read before version and size are checked.
        let header = unsafe { raw.cast::<VTableHeader>().read() };
        if header.abi_version != ABI_VERSION {
            return Err(EntryError::AbiMismatch {
                plugin: header.abi_version,
            });
        }
        if header.struct_size < VTABLE_SIZE {
            return Err(EntryError::VTableTooSmall {
                declared: header.struct_size,
                required: VTABLE_SIZE,
            });
        }
        // SAFETY: the plugin speaks this ABI version and its vtable is at
        // least as large as this version's layout, so every field is there.
        let vtable = unsafe { raw.read() };
        if vtable.stage.is_null() {
            return Err(EntryError::MissingFunction("stage"));
        }
        let describe: DescribeFn = vtable
            .describe
            .ok_or(EntryError::MissingFunction("describe"))?;
        let process: ProcessFn = vtable
            .process
            .ok_or(EntryError::MissingFunction("process"))?;
        // SAFETY: `describe` and `stage` come from a checked vtable; the sink
        // is valid for the duration of the call.
        let (status, bytes) = call_with_sink(|sink| unsafe { describe(vtable.stage, sink) });
        if status != STATUS_OK {
            return Err(EntryError::DescribeFailed {
                status,
                message: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        let mut info = envelope::decode::<DescriptorEnvelope>(&bytes)
            .map_err(EntryError::DescriptorDecode)?
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

    /// Whether calls may run at the same time; when false they are serialised.
    pub(crate) fn is_concurrent(&self) -> bool {
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

fn validate(info: &StageInfo) -> Result<(), EntryError> {
    if info.name.is_empty() || info.name.len() > 128 {
        return Err(EntryError::InvalidDescriptor(format!(
            "the stage name must be 1 to 128 bytes, not {}",
            info.name.len()
        )));
    }
    if info.name.chars().any(char::is_control) {
        return Err(EntryError::InvalidDescriptor(format!(
            "the stage name {:?} contains control characters",
            info.name
        )));
    }
    if !(kiln_plugin_api::TIER_BROWSABLE..=kiln_plugin_api::TIER_ENRICHED).contains(&info.tier) {
        return Err(EntryError::InvalidDescriptor(format!(
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
            // One policy for every stage: a panic is a permanent failure of
            // its job, because a deterministic panic would only repeat on
            // every retry.
            STATUS_PANIC => Err(StageError::permanent(format!(
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
