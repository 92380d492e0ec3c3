//! Session assignment is a function of the set of assets: the order in which
//! assets completed, or arrived in batches, never changes the sessions.

use kiln::engine::AssetId;
use kiln::stages::cluster::{SESSION_GAP_SECONDS, SessionFeatures, assign_sessions};
use proptest::prelude::*;

fn features() -> impl Strategy<Value = Vec<SessionFeatures>> {
    prop::collection::vec(
        (
            0u64..400,
            prop::option::weighted(0.9, 0i64..(6 * 3600)),
            0usize..3,
        ),
        0..60,
    )
    .prop_map(|raw| {
        let families = ["comfyui|juggernautxl", "a1111|dreamshaper_8", "|"];
        let mut seen = std::collections::HashSet::new();
        raw.into_iter()
            .filter(|(id, _, _)| seen.insert(*id))
            .map(|(id, time, family)| SessionFeatures {
                id: AssetId::new(id),
                time: time.map(|t| 1_800_000_000 + t),
                family: families.get(family).copied().unwrap_or("|").to_owned(),
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn completion_order_does_not_change_sessions(
        all in features(),
        order in prop::collection::vec(any::<u32>(), 60),
        cut in 0usize..60,
    ) {
        let expected = assign_sessions(&all);
        // Any permutation of completion order.
        let mut shuffled: Vec<(u32, SessionFeatures)> = all
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, f)| (order.get(i).copied().unwrap_or(0), f))
            .collect();
        shuffled.sort_by_key(|(k, f)| (*k, f.id));
        let shuffled: Vec<SessionFeatures> = shuffled.into_iter().map(|(_, f)| f).collect();
        prop_assert_eq!(&assign_sessions(&shuffled), &expected);
        // Arrival in two batches, the later batch recorded first.
        let cut = cut.min(shuffled.len());
        let (first, second) = shuffled.split_at(cut);
        let arrived: Vec<SessionFeatures> = second.iter().chain(first).cloned().collect();
        prop_assert_eq!(&assign_sessions(&arrived), &expected);
        // Every asset is in exactly one session.
        let mut members: Vec<AssetId> = expected.iter().flat_map(|s| s.assets.clone()).collect();
        members.sort_unstable();
        let mut ids: Vec<AssetId> = all.iter().map(|f| f.id).collect();
        ids.sort_unstable();
        prop_assert_eq!(members, ids);
    }
}

#[test]
fn two_sittings_hours_apart_are_two_sessions() {
    let start = 1_800_000_000;
    let mut all = Vec::new();
    for i in 0..10u64 {
        all.push(SessionFeatures {
            id: AssetId::new(i),
            time: Some(start + 90 * i as i64),
            family: "comfyui|juggernautxl".to_owned(),
        });
        all.push(SessionFeatures {
            id: AssetId::new(100 + i),
            time: Some(start + 4 * 3600 + 90 * i as i64),
            family: "comfyui|juggernautxl".to_owned(),
        });
    }
    let sessions = assign_sessions(&all);
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0].assets, ids(0..10));
    assert_eq!(sessions[1].assets, ids(100..110));
    assert_ne!(sessions[0].id, sessions[1].id);
    // An asset arriving in the gap joins neither once it is farther than
    // the gap from both; one close to the first sitting joins it.
    all.push(SessionFeatures {
        id: AssetId::new(50),
        time: Some(start + 9 * 90 + SESSION_GAP_SECONDS),
        family: "comfyui|juggernautxl".to_owned(),
    });
    let grown = assign_sessions(&all);
    assert_eq!(grown.len(), 2);
    assert_eq!(
        grown[0].id, sessions[0].id,
        "a session keeps its id as it grows"
    );
    assert!(grown[0].assets.contains(&AssetId::new(50)));
}

fn ids(range: std::ops::Range<u64>) -> Vec<AssetId> {
    range.map(AssetId::new).collect()
}
