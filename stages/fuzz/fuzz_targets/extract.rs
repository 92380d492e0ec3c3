//! Fuzzes the metadata extractor: any bytes must give an extraction or an
//! error, never a panic, a hang or unbounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The file name steers the choice between ComfyUI output branches.
    if let Ok(extraction) = kiln_stages::metadata::extract(data, Some("ComfyUI_00001_.png")) {
        let _ = kiln_stages::metadata::extraction_to_value(&extraction);
    }
});
