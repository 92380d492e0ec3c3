//! `kiln model`: the CLIP packs a store uses for semantic search (add,
//! list, remove), and embeddings of one image or text for scripts.

use super::EXIT_OK;
use super::args::{EmbedArgs, GlobalArgs, ModelAction};
use super::json::print;
use super::terminal::print_line;
use anyhow::Context;
use kiln::clip::Clip;
use kiln::models::PinCheck;
use kiln::{Kiln, ModelError, ModelRecord};
use serde_json::{Value as Json, json};
use std::path::Path;

/// The widest image `model embed --image` decodes, in pixels per side.
const MAX_IMAGE_SIDE: u32 = 1 << 15;

/// Threads each model runs with: the workers' count, else one per core.
pub(crate) fn threads(global: &GlobalArgs) -> usize {
    global.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        usize::from,
    )
}

fn record_json(record: &ModelRecord, pins: Option<&[(String, PinCheck)]>) -> Json {
    let files: Vec<Json> = record
        .files
        .iter()
        .map(|f| {
            let mut entry = json!({ "name": f.name, "bytes": f.bytes, "sha256": f.sha256 });
            if let Some((_, check)) = pins.and_then(|p| p.iter().find(|(n, _)| *n == f.name)) {
                entry["pin"] = match check {
                    PinCheck::Same => json!("ok"),
                    PinCheck::Changed { sha256 } => json!({ "changed": sha256 }),
                    PinCheck::Unreadable { reason } => json!({ "unreadable": reason }),
                };
            }
            entry
        })
        .collect();
    json!({
        "name": record.name,
        "path": record.dir.display().to_string(),
        "dim": record.dim,
        "image_size": record.image_size,
        "context_length": record.context_length,
        "files": files,
    })
}

fn pins_ok(pins: &[(String, PinCheck)]) -> bool {
    pins.iter().all(|(_, c)| *c == PinCheck::Same)
}

/// `kiln model add|list|remove` (on an open store).
pub(crate) async fn model(
    kiln: &Kiln,
    global: &GlobalArgs,
    action: &ModelAction,
) -> anyhow::Result<i32> {
    match action {
        ModelAction::Add { dir, name, json } => {
            let (record, _) = kiln
                .add_model(dir, name.as_deref(), threads(global))
                .await?;
            if *json {
                print(&record_json(&record, None));
            } else {
                print_line!(
                    "added model {} from {}: {} dimensions, {}x{} images, {} files pinned by SHA-256",
                    record.name,
                    record.dir.display(),
                    record.dim,
                    record.image_size,
                    record.image_size,
                    record.files.len()
                );
            }
        }
        ModelAction::List(a) => {
            let models = kiln.models()?;
            let checked: Vec<_> = models.iter().map(|m| (m, m.check_pins())).collect();
            if a.json {
                let list: Vec<Json> = checked
                    .iter()
                    .map(|(m, pins)| {
                        let mut entry = record_json(m, Some(pins));
                        entry["pinned"] = json!(if pins_ok(pins) { "ok" } else { "changed" });
                        entry
                    })
                    .collect();
                print(&json!({ "models": list }));
            } else if checked.is_empty() {
                print_line!("no model: add a CLIP pack with `kiln model add DIR`");
            } else {
                for (m, pins) in &checked {
                    let state = if pins_ok(pins) { "OK" } else { "changed" };
                    print_line!(
                        "{}  {}  dim {}  image {}x{}  pinned files {state}",
                        m.name,
                        m.dir.display(),
                        m.dim,
                        m.image_size,
                        m.image_size
                    );
                    for (file, check) in pins {
                        match check {
                            PinCheck::Same => {}
                            PinCheck::Changed { sha256 } => {
                                print_line!("  {file}: SHA-256 is now {sha256}")
                            }
                            PinCheck::Unreadable { reason } => print_line!("  {file}: {reason}"),
                        }
                    }
                }
            }
        }
        ModelAction::Remove { name, json } => {
            let record = kiln.remove_model(name).await?;
            if *json {
                print(&json!({ "removed": record.name }));
            } else {
                print_line!(
                    "removed model {} (the pack in {} is left as it is)",
                    record.name,
                    record.dir.display()
                );
            }
        }
        ModelAction::Embed(args) => {
            let record = kiln.choose_model(args.model.as_deref())?;
            let clip = record.load(threads(global))?;
            embed(&clip, &record.name, args, global)?;
        }
    }
    Ok(EXIT_OK)
}

/// `kiln model embed --pack DIR`: a pack not recorded in any store.
pub(crate) fn embed_pack(dir: &Path, args: &EmbedArgs, global: &GlobalArgs) -> anyhow::Result<i32> {
    let clip = Clip::load(dir, threads(global)).map_err(|source| ModelError::Pack {
        dir: dir.to_path_buf(),
        source,
    })?;
    let name = clip.pack().name();
    embed(&clip, &name, args, global)?;
    Ok(EXIT_OK)
}

fn embed(clip: &Clip, name: &str, args: &EmbedArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let embedding = match (&args.image, &args.text) {
        (Some(path), _) => {
            let image = decode(path, global.memory)?;
            clip.embed_image(&image)
                .with_context(|| format!("cannot embed {}", path.display()))?
        }
        (None, Some(text)) => clip.embed_text(text).context("cannot embed the text")?,
        (None, None) => anyhow::bail!("give --image FILE or --text TEXT"),
    };
    if args.json {
        print(&json!({ "model": name, "embedding": embedding }));
    } else {
        let values: Vec<String> = embedding.iter().map(f32::to_string).collect();
        print_line!("{name} ({} dimensions)", embedding.len());
        print_line!("{}", values.join(" "));
    }
    Ok(())
}

/// Decodes an image file as the reference does (no orientation applied),
/// bounded in size and in the memory decoding may take.
fn decode(path: &Path, memory: u64) -> anyhow::Result<image::DynamicImage> {
    let mut reader = image::ImageReader::open(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(memory);
    reader.limits(limits);
    reader
        .decode()
        .with_context(|| format!("cannot decode {} as an image", path.display()))
}
