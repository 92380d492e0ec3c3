//! The binary layout shared by kiln and stage plugins: the entry symbol, the
//! `#[repr(C)]` vtable, the host API and the integer status codes.
//!
//! Version 1 of the ABI, on a 64-bit target:
//!
//! | offset | field | type |
//! |---|---|---|
//! | 0 | `abi_version` | `u32` (= [`ABI_VERSION`]) |
//! | 4 | `struct_size` | `u32` (bytes of the vtable, ≥ 40) |
//! | 8 | `flags` | `u64` ([`FLAG_CONCURRENT`]) |
//! | 16 | `stage` | opaque pointer to the plugin's stage |
//! | 24 | `describe` | nullable `extern "C"` function pointer |
//! | 32 | `process` | nullable `extern "C"` function pointer |
//!
//! Only postcard bytes of the [envelopes](crate::envelope) cross the
//! boundary. Bytes the plugin hands back go through an [`OutputSink`] that the
//! host provides for the duration of one call, so neither side ever frees
//! memory the other allocated. A later minor version may append fields to
//! [`StageVTable`] and [`HostApi`]; readers check `struct_size` before reading
//! any field past the first two.

use std::ffi::c_void;

/// The ABI major version this crate speaks. It also appears in the name of
/// the entry symbol ([`ENTRY_SYMBOL`]), so a plugin built for another major
/// version is not even found by a host that does not speak it.
///
/// ```
/// assert_eq!(kiln_plugin_api::abi::ABI_VERSION, 1);
/// ```
pub const ABI_VERSION: u32 = 1;

/// The name of the one symbol every plugin exports, NUL-terminated for
/// `dlsym`. Its type is [`EntryFn`].
///
/// ```
/// use kiln_plugin_api::abi::{ENTRY_SYMBOL, ENTRY_SYMBOL_NAME};
/// assert_eq!(&ENTRY_SYMBOL[..ENTRY_SYMBOL.len() - 1], ENTRY_SYMBOL_NAME.as_bytes());
/// ```
pub const ENTRY_SYMBOL: &[u8] = b"kiln_stage_v1\0";

/// [`ENTRY_SYMBOL`] without the terminating NUL, for messages.
///
/// ```
/// assert_eq!(kiln_plugin_api::abi::ENTRY_SYMBOL_NAME, "kiln_stage_v1");
/// ```
pub const ENTRY_SYMBOL_NAME: &str = "kiln_stage_v1";

/// The call succeeded; the sink received one encoded envelope.
///
/// ```
/// use kiln_plugin_api::abi::{STATUS_OK, status_name};
/// assert_eq!(status_name(STATUS_OK), "ok");
/// ```
pub const STATUS_OK: i32 = 0;
/// The plugin panicked; the sink received the panic message as UTF-8 text.
///
/// ```
/// assert_ne!(kiln_plugin_api::abi::STATUS_PANIC, kiln_plugin_api::abi::STATUS_OK);
/// ```
pub const STATUS_PANIC: i32 = 1;
/// The plugin could not decode the input envelope (for example an envelope
/// version it does not know); the sink received a UTF-8 explanation.
///
/// ```
/// assert_eq!(kiln_plugin_api::abi::status_name(kiln_plugin_api::abi::STATUS_BAD_INPUT), "bad input");
/// ```
pub const STATUS_BAD_INPUT: i32 = 2;
/// The plugin could not encode its reply; the sink received a UTF-8 explanation.
///
/// ```
/// assert_eq!(kiln_plugin_api::abi::status_name(kiln_plugin_api::abi::STATUS_ENCODE_FAILED), "encode failed");
/// ```
pub const STATUS_ENCODE_FAILED: i32 = 3;
/// A pointer argument that must not be null was null; nothing was written.
///
/// ```
/// assert_eq!(kiln_plugin_api::abi::status_name(kiln_plugin_api::abi::STATUS_NULL_ARGUMENT), "null argument");
/// ```
pub const STATUS_NULL_ARGUMENT: i32 = 4;

/// A short human name for a status code, `"unknown status"` for codes this
/// version does not define.
///
/// ```
/// use kiln_plugin_api::abi::status_name;
/// assert_eq!(status_name(1), "panic");
/// assert_eq!(status_name(77), "unknown status");
/// ```
pub fn status_name(status: i32) -> &'static str {
    match status {
        STATUS_OK => "ok",
        STATUS_PANIC => "panic",
        STATUS_BAD_INPUT => "bad input",
        STATUS_ENCODE_FAILED => "encode failed",
        STATUS_NULL_ARGUMENT => "null argument",
        _ => "unknown status",
    }
}

/// Bit in [`StageVTable::flags`]: the stage may process several inputs at the
/// same time. When it is clear, the host serialises every call.
///
/// ```
/// use kiln_plugin_api::abi::FLAG_CONCURRENT;
/// let flags: u64 = FLAG_CONCURRENT;
/// assert!(flags & FLAG_CONCURRENT != 0);
/// ```
pub const FLAG_CONCURRENT: u64 = 1;

/// Log level integers passed to [`HostApi::log`]; see [`crate::log::LogLevel`].
///
/// ```
/// assert!(kiln_plugin_api::abi::LOG_ERROR < kiln_plugin_api::abi::LOG_TRACE);
/// ```
pub const LOG_ERROR: u32 = 1;
/// Warning log level.
///
/// ```
/// assert_eq!(kiln_plugin_api::abi::LOG_WARN, 2);
/// ```
pub const LOG_WARN: u32 = 2;
/// Informational log level.
///
/// ```
/// assert_eq!(kiln_plugin_api::abi::LOG_INFO, 3);
/// ```
pub const LOG_INFO: u32 = 3;
/// Debug log level.
///
/// ```
/// assert_eq!(kiln_plugin_api::abi::LOG_DEBUG, 4);
/// ```
pub const LOG_DEBUG: u32 = 4;
/// Trace log level.
///
/// ```
/// assert_eq!(kiln_plugin_api::abi::LOG_TRACE, 5);
/// ```
pub const LOG_TRACE: u32 = 5;

/// The type of the entry symbol. The host calls it once per load with its
/// [`HostApi`] (valid for the life of the process) and receives a vtable
/// that stays valid for the life of the process, or null if the plugin could
/// not construct its stage.
///
/// ```
/// use kiln_plugin_api::abi::EntryFn;
/// let size = std::mem::size_of::<EntryFn>();
/// assert_eq!(size, std::mem::size_of::<usize>());
/// ```
pub type EntryFn = unsafe extern "C" fn(host: *const HostApi) -> *const StageVTable;

/// Receives bytes from the plugin during one call.
///
/// `write` copies `len` bytes from `bytes` into host memory before it returns;
/// the plugin keeps ownership of `bytes`. `context` is the host's and is only
/// passed back.
///
/// ```
/// use kiln_plugin_api::abi::OutputSink;
/// assert_eq!(std::mem::size_of::<OutputSink>(), 2 * std::mem::size_of::<usize>());
/// ```
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct OutputSink {
    /// Opaque host state for this call.
    pub context: *mut c_void,
    /// Copies bytes into the host. Never null.
    pub write: unsafe extern "C" fn(context: *mut c_void, bytes: *const u8, len: usize),
}

/// Describes the stage: writes a postcard-encoded
/// [`DescriptorEnvelope`](crate::envelope::DescriptorEnvelope) to the sink.
///
/// ```
/// use kiln_plugin_api::abi::DescribeFn;
/// assert_eq!(std::mem::size_of::<Option<DescribeFn>>(), std::mem::size_of::<usize>());
/// ```
pub type DescribeFn = unsafe extern "C" fn(stage: *const c_void, sink: *const OutputSink) -> i32;

/// Processes one asset: reads a postcard-encoded
/// [`InputEnvelope`](crate::envelope::InputEnvelope) from `input[..input_len]`
/// and writes a [`ReplyEnvelope`](crate::envelope::ReplyEnvelope) to the sink.
///
/// ```
/// use kiln_plugin_api::abi::ProcessFn;
/// assert_eq!(std::mem::size_of::<Option<ProcessFn>>(), std::mem::size_of::<usize>());
/// ```
pub type ProcessFn = unsafe extern "C" fn(
    stage: *const c_void,
    input: *const u8,
    input_len: usize,
    sink: *const OutputSink,
) -> i32;

/// The first two fields every version of [`StageVTable`] starts with. The host
/// reads only this much until it has checked both.
///
/// ```
/// use kiln_plugin_api::abi::VTableHeader;
/// assert_eq!(std::mem::size_of::<VTableHeader>(), 8);
/// ```
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VTableHeader {
    /// The ABI major version the plugin was built for.
    pub abi_version: u32,
    /// The size in bytes of the whole vtable as the plugin laid it out.
    pub struct_size: u32,
}

/// What the entry symbol returns: the plugin's stage and its functions.
///
/// Function pointers are nullable so that a malformed vtable is an error, not
/// undefined behaviour.
///
/// ```
/// use kiln_plugin_api::abi::StageVTable;
/// use std::mem::{offset_of, size_of};
/// assert_eq!(offset_of!(StageVTable, abi_version), 0);
/// assert_eq!(offset_of!(StageVTable, struct_size), 4);
/// assert_eq!(offset_of!(StageVTable, flags), 8);
/// # if size_of::<usize>() == 8 {
/// assert_eq!(size_of::<StageVTable>(), 40);
/// # }
/// ```
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct StageVTable {
    /// Must equal the host's [`ABI_VERSION`].
    pub abi_version: u32,
    /// `size_of::<StageVTable>()` as the plugin laid it out.
    pub struct_size: u32,
    /// Capability bits, e.g. [`FLAG_CONCURRENT`].
    pub flags: u64,
    /// The plugin's stage; passed back to every function, never read by the host.
    pub stage: *const c_void,
    /// See [`DescribeFn`].
    pub describe: Option<DescribeFn>,
    /// See [`ProcessFn`].
    pub process: Option<ProcessFn>,
}

/// Logs one message: `level` is one of the `LOG_*` integers, `target` and
/// `message` are UTF-8 that the host copies before returning.
///
/// ```
/// use kiln_plugin_api::abi::LogFn;
/// assert_eq!(std::mem::size_of::<Option<LogFn>>(), std::mem::size_of::<usize>());
/// ```
pub type LogFn = unsafe extern "C" fn(
    level: u32,
    target: *const u8,
    target_len: usize,
    message: *const u8,
    message_len: usize,
);

/// What the host offers a plugin, passed to the entry symbol. It lives as long
/// as the process.
///
/// ```
/// use kiln_plugin_api::abi::HostApi;
/// use std::mem::offset_of;
/// assert_eq!(offset_of!(HostApi, abi_version), 0);
/// assert_eq!(offset_of!(HostApi, struct_size), 4);
/// ```
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HostApi {
    /// The host's [`ABI_VERSION`].
    pub abi_version: u32,
    /// `size_of::<HostApi>()` as the host laid it out.
    pub struct_size: u32,
    /// Where the plugin's log messages go; each cdylib has its own copy of
    /// std and of any logger, so this is the only log that reaches the user.
    pub log: Option<LogFn>,
}
