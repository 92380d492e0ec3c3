//! Every message that crosses the plugin boundary survives a postcard round trip.

use kiln_plugin_api::envelope::{DescriptorEnvelope, InputEnvelope, ReplyEnvelope, decode, encode};
use kiln_plugin_api::{Artifact, CostClass, StageError, StageInfo, StageInput, StageOutput, Value};
use proptest::prelude::*;
use std::borrow::Cow;

fn config() -> ProptestConfig {
    ProptestConfig {
        // Miri interprets every instruction; a handful of cases still walks
        // every code path of the encoder and decoder.
        cases: if cfg!(miri) { 3 } else { 256 },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<u64>().prop_map(Value::UInt),
        any::<f64>()
            .prop_filter("NaN never equals itself", |f| !f.is_nan())
            .prop_map(Value::Float),
        ".{0,12}".prop_map(Value::Text),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
            prop::collection::btree_map(".{0,8}", inner, 0..6).prop_map(Value::Map),
        ]
    })
}

fn cost() -> impl Strategy<Value = CostClass> {
    prop_oneof![Just(CostClass::Io), Just(CostClass::Cpu)]
}

fn stage_info() -> impl Strategy<Value = StageInfo> {
    (
        ".{0,16}",
        any::<u32>(),
        any::<u8>(),
        prop::collection::vec(".{0,8}", 0..4),
        cost(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(name, version, tier, after, cost, needs_proxy, concurrent)| {
                StageInfo::new(name, version, tier)
                    .after(after)
                    .cost(cost)
                    .needs_proxy(needs_proxy)
                    .concurrent(concurrent)
            },
        )
}

fn stage_input() -> impl Strategy<Value = StageInput> {
    (
        any::<u64>(),
        ".{0,24}",
        any::<Option<[u8; 32]>>(),
        prop::option::of(".{0,24}"),
        prop::collection::btree_map(".{0,8}", value(), 0..4),
    )
        .prop_map(|(asset_id, path, content_hash, proxy_path, facts)| {
            let mut input = StageInput::for_path(asset_id, path).with_facts(facts);
            if let Some(hash) = content_hash {
                input = input.with_content_hash(hash);
            }
            if let Some(proxy) = proxy_path {
                input = input.with_proxy_path(proxy);
            }
            input
        })
}

fn artifact() -> impl Strategy<Value = Artifact> {
    (
        ".{0,8}",
        ".{0,12}",
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(name, media_type, bytes)| Artifact::new(name, media_type, bytes))
}

fn stage_output() -> impl Strategy<Value = StageOutput> {
    (
        value(),
        prop::collection::vec(artifact(), 0..3),
        any::<Option<[u8; 32]>>(),
    )
        .prop_map(|(facts, artifacts, content_hash)| {
            let mut output = artifacts
                .into_iter()
                .fold(StageOutput::facts(facts), StageOutput::with);
            if let Some(hash) = content_hash {
                output = output.with_content_hash(hash);
            }
            output
        })
}

fn stage_error() -> impl Strategy<Value = StageError> {
    prop_oneof![
        ".{0,24}".prop_map(StageError::transient),
        ".{0,24}".prop_map(StageError::permanent),
    ]
}

/// Round-trips a bare (non-envelope) serde type through postcard.
fn bare_round_trip<T>(value: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let bytes = postcard::to_allocvec(value).expect("encodes");
    postcard::from_bytes(&bytes).expect("decodes")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn value_trees_round_trip(v in value()) {
        prop_assert_eq!(bare_round_trip(&v), v);
    }

    #[test]
    fn stage_info_round_trips(info in stage_info()) {
        prop_assert_eq!(bare_round_trip(&info), info.clone());
        let sent = DescriptorEnvelope::V1(info);
        let bytes = encode(&sent).expect("encodes");
        prop_assert_eq!(decode::<DescriptorEnvelope>(&bytes).expect("decodes"), sent);
    }

    #[test]
    fn stage_input_round_trips(input in stage_input()) {
        prop_assert_eq!(bare_round_trip(&input), input.clone());
        let bytes = encode(&InputEnvelope::V1(Cow::Borrowed(&input))).expect("encodes");
        let back = decode::<InputEnvelope>(&bytes).expect("decodes").into_input();
        prop_assert_eq!(back, input);
    }

    #[test]
    fn stage_output_round_trips(output in stage_output()) {
        prop_assert_eq!(bare_round_trip(&output), output.clone());
        let sent = ReplyEnvelope::V1(Ok(output));
        let bytes = encode(&sent).expect("encodes");
        prop_assert_eq!(decode::<ReplyEnvelope>(&bytes).expect("decodes"), sent);
    }

    #[test]
    fn stage_errors_round_trip(error in stage_error()) {
        prop_assert_eq!(bare_round_trip(&error), error.clone());
        let sent = ReplyEnvelope::V1(Err(error));
        let bytes = encode(&sent).expect("encodes");
        prop_assert_eq!(decode::<ReplyEnvelope>(&bytes).expect("decodes"), sent);
    }

    #[test]
    fn artifacts_and_cost_classes_round_trip(a in artifact(), c in cost()) {
        prop_assert_eq!(bare_round_trip(&a), a);
        prop_assert_eq!(bare_round_trip(&c), c);
    }

    #[test]
    fn truncated_messages_are_errors_not_panics(output in stage_output(), cut in any::<prop::sample::Index>()) {
        let bytes = encode(&ReplyEnvelope::V1(Ok(output))).expect("encodes");
        let cut = cut.index(bytes.len());
        prop_assert!(decode::<ReplyEnvelope>(&bytes[..cut]).is_err());
    }
}

#[test]
fn nan_floats_keep_their_bits() {
    let nan = f64::from_bits(0x7ff8_0000_dead_beef);
    let Value::Float(back) = bare_round_trip(&Value::Float(nan)) else {
        panic!("a float decodes as a float");
    };
    assert_eq!(back.to_bits(), nan.to_bits());
}

#[test]
fn unknown_envelope_versions_are_rejected() {
    let mut bytes = encode(&DescriptorEnvelope::V1(StageInfo::new("a", 1, 1))).expect("encodes");
    // The first byte is the variant index: 0 is V1, 1 would be a future V2.
    bytes[0] = 1;
    let err = decode::<DescriptorEnvelope>(&bytes).expect_err("V2 is unknown");
    assert!(err.to_string().contains("stage descriptor"), "{err}");
}
