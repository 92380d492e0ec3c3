//! The decoding memory budget as the stages apply it. Its own test binary:
//! the budget is process-wide, and these tests set it small.

use kiln_plugin_api::{Stage, StageInput};
use kiln_stages::memory;
use kiln_stages::metadata::MetadataStage;
use kiln_testkit::paint;

#[test]
fn a_workflow_too_large_for_the_budget_is_a_problem_that_says_so() {
    memory::set_budget(4 << 20);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("huge-graph.png");
    // A ComfyUI prompt of about 1.5 MB: parsing it would need about 12 MiB.
    let mut prompt = String::from("{");
    let mut i = 0;
    while prompt.len() < 1_500_000 {
        if i > 0 {
            prompt.push(',');
        }
        prompt.push_str(&format!(
            "\"{i}\":{{\"class_type\":\"Note\",\"inputs\":{{\"text\":\"node {i}\"}}}}"
        ));
        i += 1;
    }
    prompt.push('}');
    let png = paint::with_png_text(&paint::png(&paint::gradient(64, 64)), "prompt", &prompt);
    std::fs::write(&path, png).expect("write");
    let out = MetadataStage
        .process(&StageInput::for_path(1, path.to_string_lossy()))
        .expect("the file itself is fine");
    let text = format!("{:?}", out.facts);
    assert!(
        text.contains("more than the whole memory budget of 4 MiB"),
        "{text}"
    );
}
