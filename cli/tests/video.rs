//! Videos and animations are assets like images: MP4 and WebM with
//! ComfyUI's prompt and workflow in the container's comment (written here
//! the way VideoHelperSuite has ffmpeg write them), and an animated GIF,
//! made by `ffmpeg` in the test. With `ffmpeg` they get a real frame as
//! their thumbnail; without it a placeholder, still browsable and
//! searchable, kept out of tier 3, never a dead letter. A video cut short
//! or with lying boxes is a dead letter that names the file, never a
//! panic.

mod common;

use common::{json, kiln, run, succeed};
use serde_json::{Value as Json, json as object};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether `ffmpeg` runs here. Under CI it must: `.ci/run` installs it.
fn have_ffmpeg() -> bool {
    let ok = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("ffmpeg is not installed; .ci/run installs Debian's ffmpeg package");
    }
    ok
}

/// A ComfyUI API graph: checkpoint, two prompts, a sampler, a video saver.
fn api_graph(seed: u64, prompt: &str) -> Json {
    object!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "dreamshaper_8.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": prompt, "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry, watermark", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 320, "height": 240, "batch_size": 16}},
        "5": {"class_type": "KSampler", "inputs": {
            "seed": seed, "steps": 24, "cfg": 6.5, "sampler_name": "euler_ancestral",
            "scheduler": "karras", "denoise": 1.0,
            "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0]}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "VHS_VideoCombine", "inputs": {
            "images": ["6", 0], "frame_rate": 8, "loop_count": 0, "filename_prefix": "AnimateDiff",
            "format": "video/h264-mp4", "save_output": true}}
    })
}

/// The comment VideoHelperSuite writes: both graphs as JSON strings.
fn comment(seed: u64, prompt: &str) -> String {
    let workflow = object!({"nodes": [{"id": 5, "type": "KSampler"}], "links": []});
    object!({"prompt": api_graph(seed, prompt).to_string(), "workflow": workflow.to_string()})
        .to_string()
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-nostdin"])
        .args(args)
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes the test's media into `dir`: two videos with graphs, a GIF.
fn make_media(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let mp4 = dir.join("AnimateDiff_00001.mp4");
    let webm = dir.join("AnimateDiff_00002.webm");
    let gif = dir.join("loop.gif");
    let source = [
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=8",
        "-t",
        "2",
    ];
    let lighthouse = comment(123_456_789, "a lighthouse at dusk, film grain");
    let mut args: Vec<&str> = source.to_vec();
    args.extend(["-pix_fmt", "yuv420p", "-metadata"]);
    let meta = format!("comment={lighthouse}");
    args.push(&meta);
    let mp4_name = mp4.to_string_lossy().into_owned();
    args.push(&mp4_name);
    ffmpeg(&args);
    let rain = comment(42, "red car in the rain");
    let meta = format!("comment={rain}");
    let webm_name = webm.to_string_lossy().into_owned();
    let mut args: Vec<&str> = source.to_vec();
    args.extend([
        "-c:v",
        "libvpx",
        "-b:v",
        "200k",
        "-metadata",
        &meta,
        &webm_name,
    ]);
    ffmpeg(&args);
    let gif_name = gif.to_string_lossy().into_owned();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=200x150:rate=5",
        "-t",
        "1",
        &gif_name,
    ]);
    // ComfyUI's own SaveVideo: each graph a tag of its own, which ffmpeg
    // keeps as QuickTime `mdta` metadata.
    let graph = format!("prompt={}", api_graph(777, "a paper boat on a pond"));
    let workflow = "workflow={\"nodes\": []}".to_owned();
    let saved = dir
        .join("ComfyUI_00001_.mp4")
        .to_string_lossy()
        .into_owned();
    let mut args: Vec<&str> = source.to_vec();
    args.extend(["-pix_fmt", "yuv420p", "-movflags", "use_metadata_tags"]);
    args.extend(["-metadata", &graph, "-metadata", &workflow, &saved]);
    ffmpeg(&args);
    let small = [
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=200x150:rate=5",
        "-t",
        "1",
    ];
    // Wider than any proxy, with a name ffmpeg would read as a protocol
    // if it were handed over bare.
    let wide = dir
        .join("concat:wide, 1.mp4")
        .to_string_lossy()
        .into_owned();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=3000x600:rate=2",
        "-t",
        "1",
        "-pix_fmt",
        "yuv420p",
        &wide,
    ]);
    let apng = dir.join("loop.png").to_string_lossy().into_owned();
    let mut args = small.to_vec();
    args.extend(["-plays", "0", "-f", "apng", &apng]);
    ffmpeg(&args);
    let webp = dir.join("loop.webp").to_string_lossy().into_owned();
    let mut args = small.to_vec();
    args.extend(["-loop", "0", "-c:v", "libwebp_anim", &webp]);
    ffmpeg(&args);
    (mp4, webm, gif)
}

fn show(store: &Path, path: &Path) -> Json {
    json(store, &["show", &path.to_string_lossy()])
}

#[test]
fn videos_and_animations_are_browsable_searchable_and_framed() {
    if !have_ffmpeg() {
        eprintln!("ffmpeg is not installed: skipped");
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let (mp4, webm, gif) = make_media(&work.path().join("in"));
    let store = work.path().join("store");
    succeed(
        kiln(&store)
            .args(["import", "-q"])
            .arg(work.path().join("in")),
    );
    assert_eq!(json(&store, &["dead", "list"])["total"], 0);

    let shown = show(&store, &mp4);
    assert_eq!(shown["state"], "done", "{shown}");
    assert!(shown["thumbnail"].is_string(), "{shown}");
    let thumb = &shown["facts"]["thumbnail"];
    assert_eq!(thumb["format"], "MP4");
    assert_eq!(thumb["animated"], true);
    assert_eq!(thumb["placeholder"], false, "a real frame: {thumb}");
    assert!(thumb["note"].is_null(), "{thumb}");
    assert_eq!(
        (thumb["width"].as_u64(), thumb["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert_eq!(shown["animation"]["frames"], 16, "{shown}");
    assert_eq!(shown["animation"]["duration"], 2.0);
    assert_eq!(shown["animation"]["fps"], 8.0);
    let g = &shown["generation"];
    assert_eq!(g["generator"], "comfyui", "{g}");
    assert_eq!(g["seed"], 123_456_789);
    assert_eq!(g["steps"], 24);
    assert_eq!(g["cfg"], 6.5);
    assert_eq!(g["sampler"], "euler_ancestral");
    assert_eq!(g["positive_prompt"], "a lighthouse at dusk, film grain");
    assert_eq!(g["negative_prompt"], "blurry, watermark");
    assert_eq!(g["model"], "dreamshaper_8.safetensors");
    // The frame is the video's: the test pattern is colourful, not the
    // placeholder's grey.
    let path = shown["thumbnail"].as_str().expect("thumbnail path");
    let image = image_colours(Path::new(path));
    assert!(image > 8, "the thumbnail has {image} distinct colours");

    let shown = show(&store, &webm);
    assert_eq!(shown["facts"]["thumbnail"]["format"], "Matroska");
    assert_eq!(shown["generation"]["seed"], 42, "{shown}");
    assert!(
        shown["animation"]["duration"]
            .as_f64()
            .is_some_and(|d| (d - 2.0).abs() < 0.2)
    );

    let shown = show(&store, &work.path().join("in").join("ComfyUI_00001_.mp4"));
    assert_eq!(shown["generation"]["seed"], 777, "{shown}");
    assert_eq!(
        shown["generation"]["positive_prompt"],
        "a paper boat on a pond"
    );

    let shown = show(&store, &work.path().join("in").join("concat:wide, 1.mp4"));
    let thumb = &shown["facts"]["thumbnail"];
    assert_eq!(thumb["placeholder"], false, "{shown}");
    assert_eq!(
        (thumb["width"].as_u64(), thumb["height"].as_u64()),
        (Some(3000), Some(600)),
        "the video's size, not its scaled frame's: {thumb}"
    );
    assert_eq!(
        (
            thumb["proxy_width"].as_u64(),
            thumb["proxy_height"].as_u64()
        ),
        (Some(512), Some(103)),
        "{thumb}"
    );

    let shown = show(&store, &gif);
    assert_eq!(shown["facts"]["thumbnail"]["format"], "GIF");
    assert_eq!(shown["animation"]["frames"], 5, "{shown}");
    for (name, format) in [("loop.png", "PNG"), ("loop.webp", "WebP")] {
        let shown = show(&store, &work.path().join("in").join(name));
        assert_eq!(shown["facts"]["thumbnail"]["format"], format, "{shown}");
        assert_eq!(shown["facts"]["thumbnail"]["animated"], true, "{shown}");
        assert_eq!(shown["animation"]["frames"], 5, "{shown}");
        assert_eq!(shown["animation"]["duration"], 1.0, "{shown}");
    }

    // Searchable by prompt; the graph's node classes are text too.
    let hits = json(&store, &["search", "lighthouse"]);
    assert_eq!(hits["total"], 1, "{hits}");
    assert!(
        hits["hits"][0]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with(".mp4"))
    );
    let hits = json(&store, &["search", "seed:42"]);
    assert_eq!(hits["total"], 1, "{hits}");
}

/// How many distinct colours a JPEG or PNG has (decoded by ffmpeg into a
/// small raw RGB frame).
fn image_colours(path: &Path) -> usize {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args([
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "32x32", "pipe:1",
        ])
        .output()
        .expect("ffmpeg runs");
    let mut colours: Vec<[u8; 3]> = out
        .stdout
        .chunks_exact(3)
        .map(|p| [p[0] >> 4, p[1] >> 4, p[2] >> 4])
        .collect();
    colours.sort_unstable();
    colours.dedup();
    colours.len()
}

#[test]
fn without_ffmpeg_a_video_is_a_placeholder_never_a_dead_letter() {
    if !have_ffmpeg() {
        eprintln!("ffmpeg is not installed (needed to make the test's videos): skipped");
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let (mp4, _, _) = make_media(&work.path().join("in"));
    let store = work.path().join("store");
    succeed(
        kiln(&store)
            .env("KILN_FFMPEG", work.path().join("no-ffmpeg-here"))
            .args(["import", "-q"])
            .arg(work.path().join("in")),
    );
    assert_eq!(json(&store, &["dead", "list"])["total"], 0);
    let shown = show(&store, &mp4);
    assert_eq!(shown["state"], "done", "{shown}");
    let thumb = &shown["facts"]["thumbnail"];
    assert_eq!(thumb["placeholder"], true, "{thumb}");
    assert!(
        thumb["note"].as_str().is_some_and(|n| n.contains("ffmpeg")),
        "{thumb}"
    );
    assert_eq!(
        (thumb["width"].as_u64(), thumb["height"].as_u64()),
        (Some(320), Some(240))
    );
    assert!(Path::new(shown["thumbnail"].as_str().expect("a thumbnail")).is_file());
    // Searchable, and kept out of similarity and scoring.
    assert_eq!(json(&store, &["search", "lighthouse"])["total"], 1);
    let reason = shown["skipped"]["embed"].as_str().unwrap_or_default();
    assert!(reason.contains("placeholder"), "{shown}");
    // The human view says how to get frames.
    let out = succeed(kiln(&store).arg("show").arg(&mp4));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("note       no frame: ffmpeg is not installed"),
        "{text}"
    );
    assert!(
        text.contains("motion     2.00 s, 16 frames, 8.00 fps"),
        "{text}"
    );
}

#[test]
fn a_broken_video_is_a_dead_letter_naming_the_file() {
    if !have_ffmpeg() {
        eprintln!("ffmpeg is not installed: skipped");
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let made = work.path().join("made");
    let (mp4, _, _) = make_media(&made);
    let input = work.path().join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    // Cut before the end: ffmpeg writes the index (`moov`) last, so the
    // cut file has frames and nothing to find them by.
    let bytes = std::fs::read(&mp4).expect("read");
    let cut = input.join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).expect("write");
    // Boxes claiming 4 GiB, one inside another, then a loop of empty ones.
    let mut lying = Vec::new();
    lying.extend_from_slice(&20u32.to_be_bytes());
    lying.extend_from_slice(b"ftypisom\0\0\0\0isom");
    for _ in 0..3 {
        lying.extend_from_slice(&u32::MAX.to_be_bytes());
        lying.extend_from_slice(b"moov");
    }
    for _ in 0..1000 {
        lying.extend_from_slice(&8u32.to_be_bytes());
        lying.extend_from_slice(b"free");
    }
    let hostile = input.join("hostile.mp4");
    std::fs::write(&hostile, &lying).expect("write");
    let out = run(kiln(&work.path().join("store"))
        .args(["import", "-q"])
        .arg(&input));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("internal error"), "{stderr}");
    let dead = json(&work.path().join("store"), &["dead", "list"]);
    let errors: Vec<&str> = dead["dead"]
        .as_array()
        .expect("dead letters")
        .iter()
        .filter_map(|d| d["error"].as_str())
        .collect();
    for file in [&cut, &hostile] {
        let name = file.to_string_lossy();
        assert!(
            errors
                .iter()
                .any(|e| e.contains(name.as_ref()) && e.contains("ffmpeg")),
            "{name}: {errors:?}"
        );
    }
}
