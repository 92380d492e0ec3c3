//! Command-line arguments: the names here are a contract that scripts rely on.

use clap::{Args, Parser, Subcommand, ValueEnum};
use kiln::engine::Tier;
use std::path::PathBuf;

/// kiln: drop a folder of generator outputs on it, browse at once, search right after.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// The store folder (one redb file plus blobs/).
    #[arg(long, global = true, env = "KILN_STORE", default_value = "kiln-store")]
    pub(crate) store: PathBuf,
    /// Load a stage plugin from this shared library (repeatable).
    #[arg(long = "plugin", global = true, value_name = "PATH")]
    pub(crate) plugins: Vec<PathBuf>,
    /// Let a plugin replace the built-in stage of this name (repeatable).
    #[arg(long = "replace-stage", global = true, value_name = "NAME")]
    pub(crate) replace_stages: Vec<String>,
    /// Print less: no progress display, only results and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    /// Print more: every file that ended in the dead-letter table, with its
    /// reason, and every message stages log (without it, only their errors
    /// and warnings).
    #[arg(short, long, global = true)]
    pub(crate) verbose: bool,
    /// Skip tier-3 enrichment of images whose shorter side is below PX pixels.
    #[arg(long, global = true, value_name = "PX", default_value_t = 128)]
    pub(crate) enrich_min_side: u64,
    /// Memory that decoding images may hold at once, shared by every worker
    /// (`512MiB`, `2GiB`, or bytes): large images wait their turn instead of
    /// decoding side by side; one needing more than all of it is a dead
    /// letter that says so.
    #[arg(long, global = true, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    pub(crate) memory: u64,
    /// Worker threads that run stages (default: one per core).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub(crate) workers: Option<u16>,
    /// Skip tier-3 enrichment of files without generation parameters.
    #[arg(long, global = true)]
    pub(crate) enrich_require_generation: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Import files and folders, then process them with live progress.
    Import(ImportArgs),
    /// Process whatever is queued: resumes an interrupted or crashed import.
    Run(RunArgs),
    /// Run a stage again: for every asset, or for the assets a search
    /// query matches; then process it as `run` does.
    Rerun(RerunArgs),
    /// Counts of assets, files, jobs per state and tier, and imports.
    Status(JsonArg),
    /// One asset: paths, hash, size, thumbnail, generation parameters, stages.
    Show(ShowArgs),
    /// List the assets in the store.
    Assets(JsonArg),
    /// Jobs that failed for good: list, retry or purge them.
    Dead(DeadArgs),
    /// The stages this store runs, built in and from plugins; with
    /// `--schema`, the facts the built-in stages write.
    Stages(StagesArgs),
    /// Find assets by prompt words and filters (`model:x steps:>=30 -word`).
    Search(super::search::SearchArgs),
    /// Assets that look like one asset, nearest first.
    Similar(super::search::SimilarArgs),
    /// Sittings: assets made close together with the same generator and model.
    Sessions(JsonArg),
    /// Rebuild the search index from the store.
    Reindex(JsonArg),
    /// Check the store: its database, the blobs its records name, the
    /// search index against the store; dead letters and leases. Exits 0
    /// when the store is sound.
    Check(CheckArgs),
    /// Fix what can be derived: rebuild the search index, make missing or
    /// damaged blobs again by re-running the stages that made them; for a
    /// damaged database, say what was lost and how to recover. Always
    /// hashes every blob.
    Repair,
    /// Browse the store in a web browser while it imports: prints the
    /// address; with folders, watches them as `watch` does.
    Serve(ServeArgs),
    /// Watch folders and take in files as generators write them, until Ctrl-C.
    Watch(WatchArgs),
    /// The CLIP model packs this store uses for semantic search: add, list,
    /// remove; and the embedding of one image or text.
    Model(ModelArgs),
    /// Rate assets 0 (none) to 5 stars: `kiln rate ID|PATH... 4`.
    Rate(super::curation::RateArgs),
    /// Mark assets as favorites, or unmark them: `kiln favorite ID|PATH... [on|off]`.
    Favorite(super::curation::FavoriteArgs),
    /// Add and remove tags: `kiln tag ID|PATH... +keeper -draft`.
    Tag(super::curation::TagArgs),
    /// Collections, named ordered sets of assets: create, add, remove,
    /// list, show, rename, delete.
    Collection(super::curation::CollectionArgs),
    /// The store's curation as a whole: export it to a file, import one,
    /// write XMP sidecars, purge what no asset holds.
    Curation(super::curation::CurationArgs),
    /// Propose the best N of each session or of each group of
    /// near-duplicates by quality score, and what would be rejected; with
    /// `--apply`, tag the rest `rejected` (files are never deleted).
    Cull(super::curation::CullArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ModelArgs {
    #[command(subcommand)]
    pub(crate) action: ModelAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModelAction {
    /// Check a CLIP pack (Immich's layout), pin its files by SHA-256 and
    /// record it in the store.
    Add {
        /// The pack's folder (config.json, visual/, textual/).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The name the store knows it by (default: the folder's name).
        #[arg(long)]
        name: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The recorded packs: name, folder, dimensions, image size, and whether
    /// their files still have the pinned hashes.
    List(JsonArg),
    /// Forget a recorded pack (its folder is left as it is).
    Remove {
        /// The model's name.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The embedding of one image file or one text.
    Embed(EmbedArgs),
}

#[derive(Debug, Args)]
pub(crate) struct EmbedArgs {
    /// An image file, embedded from its original pixels.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "text",
        required_unless_present = "text"
    )]
    pub(crate) image: Option<PathBuf>,
    /// A text.
    #[arg(long, value_name = "TEXT")]
    pub(crate) text: Option<String>,
    /// The recorded model to use (default: the store's only one).
    #[arg(long, value_name = "NAME", conflicts_with = "pack")]
    pub(crate) model: Option<String>,
    /// A pack folder to use instead of a recorded model (no store is opened).
    #[arg(long, value_name = "DIR")]
    pub(crate) pack: Option<PathBuf>,
    /// Print `{"model": NAME, "embedding": [...]}`.
    #[arg(long)]
    pub(crate) json: bool,
}

/// How urgent an import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PriorityArg {
    /// Always first, on a reserved worker lane.
    Interactive,
    /// A bulk import.
    Batch,
    /// Only when nothing else waits.
    Background,
}

/// How far processing goes before the command returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum UntilArg {
    /// Tier 1: every asset has a thumbnail.
    Browsable,
    /// Tier 2: generation parameters are known.
    Searchable,
    /// Tier 3: enrichment done.
    Enriched,
    /// Every registered stage.
    All,
}

impl UntilArg {
    /// The highest tier the command waits for.
    pub(crate) fn tier(self) -> Tier {
        match self {
            UntilArg::Browsable => Tier::Browsable,
            UntilArg::Searchable => Tier::Searchable,
            UntilArg::Enriched | UntilArg::All => Tier::Enriched,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// Files or folders to import (folders recursively).
    #[arg(required = true, value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,
    /// How urgently to process the files: interactive work runs before batch work.
    #[arg(long, value_enum, default_value = "batch")]
    pub(crate) priority: PriorityArg,
    #[arg(long, value_enum, default_value = "all")]
    pub(crate) until: UntilArg,
    /// Only enqueue; process later with `kiln run`.
    #[arg(long)]
    pub(crate) detach: bool,
    /// Enrich (tier 3) at most N assets of each imported path; skip the rest.
    #[arg(long, value_name = "N")]
    pub(crate) enrich_budget: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Folders to watch (recursively); files already there are caught up first.
    #[arg(required = true, value_name = "DIR")]
    pub(crate) dirs: Vec<PathBuf>,
    /// How urgently to process files that appear while watching:
    /// interactive work runs before batch work. The files already in a
    /// folder are caught up as a batch (or at this priority, if lower).
    #[arg(long, value_enum, default_value = "interactive")]
    pub(crate) priority: PriorityArg,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Folders to watch (recursively), as `kiln watch` does; uploads are
    /// saved in the first (in `<store>/uploads` without folders).
    #[arg(value_name = "DIR")]
    pub(crate) dirs: Vec<PathBuf>,
    /// The address and port to listen on. Anything but a loopback address
    /// requires an access token on every request.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8470")]
    pub(crate) listen: std::net::SocketAddr,
    /// The access token (at least 16 characters: letters, digits and
    /// `-._~`); without it, a non-loopback address gets a random one,
    /// printed in the address.
    #[arg(long, env = "KILN_TOKEN", value_name = "TOKEN")]
    pub(crate) token: Option<String>,
    /// The largest file an upload may carry (`256MiB`, `1GiB`, or bytes).
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = parse_size)]
    pub(crate) max_upload: u64,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[arg(long, value_enum, default_value = "all")]
    pub(crate) until: UntilArg,
}

#[derive(Debug, Args)]
pub(crate) struct RerunArgs {
    /// The stage to run again (see `kiln stages`).
    pub(crate) stage: String,
    /// Only the assets this search query matches (as `kiln search` takes
    /// it); every active asset without it.
    pub(crate) query: Option<String>,
    /// How urgent the re-run is.
    #[arg(long, value_enum, default_value = "batch")]
    pub(crate) priority: PriorityArg,
    #[arg(long, value_enum, default_value = "all")]
    pub(crate) until: UntilArg,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Also hash every blob and compare it with its name.
    #[arg(long)]
    pub(crate) deep: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct JsonArg {
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// An asset id or a path that was imported.
    #[arg(value_name = "ASSET_ID|PATH")]
    pub(crate) asset: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// With `--json`: the stored facts of every stage exactly as a stage's
    /// input holds them, with the path, content hash and proxy a stage is
    /// given, instead of the summary.
    #[arg(long, requires = "json")]
    pub(crate) raw: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StagesArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// The facts each built-in stage writes (key, type, example, meaning),
    /// which a stage running after it finds in its input.
    #[arg(long)]
    pub(crate) schema: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DeadArgs {
    #[command(subcommand)]
    pub(crate) action: DeadAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DeadAction {
    /// List dead jobs: path, stage, attempts, last error.
    List(JsonArg),
    /// Queue dead jobs again.
    Retry {
        /// The dead job's id.
        #[arg(
            value_name = "ID",
            conflicts_with = "all",
            required_unless_present = "all"
        )]
        id: Option<u64>,
        /// Retry every dead job.
        #[arg(long)]
        all: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete every dead job for good.
    Purge(JsonArg),
}

/// A size in bytes: a number with an optional unit (`K`, `M`, `G`, with or
/// without `iB`/`B`; powers of 1024).
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 512MiB or 2GiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => {
            return Err(format!(
                "`{text}`: the unit must be K, M or G (KiB, MiB, GiB)"
            ));
        }
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("64kb"), Ok(64 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3TB").is_err());
    }
}
