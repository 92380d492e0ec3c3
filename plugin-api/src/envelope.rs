//! Versioned envelopes for every message that crosses the plugin boundary.
//!
//! Postcard is not self-describing: a reader must know the exact shape the
//! writer used. Each message is therefore wrapped in an enum whose variant is
//! the message version. A later version adds a variant (`V2(..)`) and never
//! changes an existing one, so a reader can always tell what it was handed and
//! reject what it does not know with a clear error instead of misreading it.
//!
//! The host answers a plugin in the envelope version of the descriptor that
//! plugin returned.

use crate::{StageError, StageInfo, StageInput, StageOutput};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// What `describe` returns: the stage's declaration.
///
/// ```
/// use kiln_plugin_api::envelope::{DescriptorEnvelope, decode, encode};
/// use kiln_plugin_api::StageInfo;
///
/// let sent = DescriptorEnvelope::V1(StageInfo::new("palette", 2, 3));
/// let bytes = encode(&sent).unwrap();
/// assert_eq!(decode::<DescriptorEnvelope>(&bytes).unwrap(), sent);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DescriptorEnvelope {
    /// Version 1: a [`StageInfo`].
    V1(StageInfo),
}

impl DescriptorEnvelope {
    /// The stage declaration, whatever the envelope version.
    ///
    /// ```
    /// use kiln_plugin_api::envelope::DescriptorEnvelope;
    /// use kiln_plugin_api::StageInfo;
    /// let info = DescriptorEnvelope::V1(StageInfo::new("x", 1, 1)).into_info();
    /// assert_eq!(info.name, "x");
    /// ```
    pub fn into_info(self) -> StageInfo {
        match self {
            DescriptorEnvelope::V1(info) => info,
        }
    }
}

/// What the host sends to `process`: one asset's input.
///
/// The input is a [`Cow`] so the host can encode a borrowed input without
/// cloning its fact tree; decoding always yields an owned input.
///
/// ```
/// use kiln_plugin_api::envelope::{InputEnvelope, decode, encode};
/// use kiln_plugin_api::StageInput;
/// use std::borrow::Cow;
///
/// let input = StageInput::for_path(9, "/photos/a.png");
/// let bytes = encode(&InputEnvelope::V1(Cow::Borrowed(&input))).unwrap();
/// let back = decode::<InputEnvelope>(&bytes).unwrap();
/// assert_eq!(back.into_input(), input);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum InputEnvelope<'a> {
    /// Version 1: a [`StageInput`].
    V1(Cow<'a, StageInput>),
}

impl InputEnvelope<'_> {
    /// The input, owned, whatever the envelope version.
    ///
    /// ```
    /// use kiln_plugin_api::envelope::InputEnvelope;
    /// use kiln_plugin_api::StageInput;
    /// let envelope = InputEnvelope::V1(std::borrow::Cow::Owned(StageInput::for_path(1, "a")));
    /// assert_eq!(envelope.into_input().path, "a");
    /// ```
    pub fn into_input(self) -> StageInput {
        match self {
            InputEnvelope::V1(input) => input.into_owned(),
        }
    }
}

/// What `process` returns: the stage's output or its typed error.
///
/// ```
/// use kiln_plugin_api::envelope::{ReplyEnvelope, decode, encode};
/// use kiln_plugin_api::{StageError, StageOutput, Value};
///
/// for reply in [Ok(StageOutput::facts(Value::from(3u64))), Err(StageError::permanent("corrupt"))] {
///     let sent = ReplyEnvelope::V1(reply);
///     assert_eq!(decode::<ReplyEnvelope>(&encode(&sent).unwrap()).unwrap(), sent);
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ReplyEnvelope {
    /// Version 1: the result of [`Stage::process`](crate::Stage::process).
    V1(Result<StageOutput, StageError>),
}

impl ReplyEnvelope {
    /// The result, whatever the envelope version.
    ///
    /// ```
    /// use kiln_plugin_api::envelope::ReplyEnvelope;
    /// use kiln_plugin_api::StageError;
    /// let reply = ReplyEnvelope::V1(Err(StageError::transient("busy")));
    /// assert!(reply.into_result().unwrap_err().is_transient());
    /// ```
    pub fn into_result(self) -> Result<StageOutput, StageError> {
        match self {
            ReplyEnvelope::V1(result) => result,
        }
    }
}

/// A message could not be encoded or decoded.
///
/// ```
/// use kiln_plugin_api::envelope::{decode, DescriptorEnvelope};
/// let err = decode::<DescriptorEnvelope>(&[7, 1, 2]).unwrap_err();
/// assert!(err.to_string().contains("decode"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    action: &'static str,
    message: &'static str,
    reason: String,
}

impl WireError {
    fn new(action: &'static str, message: &'static str, error: &postcard::Error) -> Self {
        WireError {
            action,
            message,
            reason: error.to_string(),
        }
    }
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "could not {} {}: {} (the plugin and kiln may be built against different kiln-plugin-api versions)",
            self.action, self.message, self.reason
        )
    }
}

impl std::error::Error for WireError {}

/// A message that crosses the boundary: one of the envelopes of this module.
///
/// ```
/// use kiln_plugin_api::envelope::{Message, ReplyEnvelope};
/// assert_eq!(ReplyEnvelope::WHAT, "a stage reply");
/// ```
pub trait Message: Serialize {
    /// What the message is, for error messages.
    const WHAT: &'static str;
}

impl Message for DescriptorEnvelope {
    const WHAT: &'static str = "a stage descriptor";
}

impl Message for InputEnvelope<'_> {
    const WHAT: &'static str = "a stage input";
}

impl Message for ReplyEnvelope {
    const WHAT: &'static str = "a stage reply";
}

/// Encodes a message with postcard.
///
/// ```
/// use kiln_plugin_api::envelope::{encode, ReplyEnvelope};
/// use kiln_plugin_api::{StageOutput, Value};
/// let bytes = encode(&ReplyEnvelope::V1(Ok(StageOutput::facts(Value::Null)))).unwrap();
/// assert_eq!(bytes[0], 0, "variant V1 is encoded as index 0");
/// ```
pub fn encode<T: Message>(message: &T) -> Result<Vec<u8>, WireError> {
    postcard::to_allocvec(message).map_err(|e| WireError::new("encode", T::WHAT, &e))
}

/// Decodes a message with postcard; trailing bytes are an error because they
/// mean the two sides disagree about the message's shape.
///
/// ```
/// use kiln_plugin_api::envelope::{decode, encode, DescriptorEnvelope};
/// use kiln_plugin_api::StageInfo;
/// let mut bytes = encode(&DescriptorEnvelope::V1(StageInfo::new("a", 1, 1))).unwrap();
/// bytes.push(0);
/// assert!(decode::<DescriptorEnvelope>(&bytes).is_err());
/// ```
pub fn decode<'de, T: Message + Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, WireError> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((message, [])) => Ok(message),
        Ok((_, rest)) => Err(WireError {
            action: "decode",
            message: T::WHAT,
            reason: format!("{} unexpected trailing bytes", rest.len()),
        }),
        Err(e) => Err(WireError::new("decode", T::WHAT, &e)),
    }
}
