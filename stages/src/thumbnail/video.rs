//! Videos (MP4, MOV, Matroska, WebM): one representative frame, taken by
//! `ffmpeg` run as a bounded child process, becomes the proxy and the
//! thumbnail like any image. Without `ffmpeg` a video is still an asset:
//! its thumbnail and proxy are a placeholder the facts name as one
//! (`placeholder`, with a `note` saying how to get frames), which the
//! enrichment gate keeps out of similarity and scoring.
//!
//! `ffmpeg` is looked for in `KILN_FFMPEG` (a path), then on `PATH`. It
//! runs with one thread, no standard input, an address-space limit and a
//! deadline; it is killed past the deadline, and its output is read up to
//! a size limit. The file is handed to it as a local file of the demuxer
//! kiln sniffed (never probed, so a playlist or a concat list posing as a
//! video cannot make it open other files or addresses), and the frame
//! comes out no larger than twice the proxy. Its PNG is then decoded by
//! the image path, under the same decode limits as any file.

use super::{SourceFormat, ThumbnailConfig, ThumbnailError, Thumbnails, make_thumbnails};
use image::{Rgb, RgbImage};
use kiln_plugin_api::StageError;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long `ffmpeg` may take for one frame.
const DEADLINE: Duration = Duration::from_secs(20);
/// The address space `ffmpeg` may map.
const MAX_ADDRESS_SPACE: u64 = 4 << 30;
/// The most bytes of `ffmpeg`'s error output kept for a message.
const MAX_STDERR: u64 = 4096;

/// The `ffmpeg` found for this process, if any.
pub fn ffmpeg() -> Option<&'static Path> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("KILN_FFMPEG") {
                let path = PathBuf::from(path);
                return path.is_file().then_some(path);
            }
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|dir| dir.join("ffmpeg"))
                .find(|p| p.is_file())
        })
        .as_deref()
}

/// Why no frame came out of a video.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// No `ffmpeg` here.
    NoFfmpeg,
    /// `ffmpeg` ran and found no frame: the file is at fault.
    Failed(String),
    /// `ffmpeg` could not run, or took too long (a loaded machine): worth
    /// another attempt.
    Unavailable(String),
}

/// The time of the representative frame: a third into the video when its
/// duration is known (past fades in and titles), else the first frame.
fn frame_time(duration: Option<f64>) -> f64 {
    duration
        .filter(|d| d.is_finite() && *d > 0.0)
        .map_or(0.0, |d| (d / 3.0).min(60.0))
}

/// One frame of the video at `path`, as PNG bytes: a third of the way in,
/// or the first frame when there is none there (a duration that counts an
/// audio track longer than the video, or is wrong).
/// At most `max_side` pixels a side.
pub(crate) fn frame(
    path: &Path,
    format: SourceFormat,
    duration: Option<f64>,
    max_side: u32,
) -> Result<Vec<u8>, FrameError> {
    let at = frame_time(duration);
    match frame_at(path, format, at, max_side) {
        Err(FrameError::Failed(_)) if at > 0.0 => frame_at(path, format, 0.0, max_side),
        other => other,
    }
}

fn frame_at(
    path: &Path,
    format: SourceFormat,
    at: f64,
    max_side: u32,
) -> Result<Vec<u8>, FrameError> {
    let ffmpeg = ffmpeg().ok_or(FrameError::NoFfmpeg)?;
    let demuxer = match format {
        SourceFormat::Matroska => "matroska",
        _ => "mov",
    };
    let at = format!("{at:.3}");
    let mut input = std::ffi::OsString::from("file:");
    input.push(path.as_os_str());
    let scale = format!(
        "scale=w=min(iw\\,{max_side}):h=min(ih\\,{max_side}):force_original_aspect_ratio=decrease"
    );
    // A PNG of this many pixels, uncompressed, with room for its chunks.
    let max_frame_bytes = u64::from(max_side)
        .pow(2)
        .saturating_mul(4)
        .saturating_add(1 << 20);
    let mut command = Command::new(ffmpeg);
    command
        .args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-threads",
            "1",
        ])
        .args(["-protocol_whitelist", "file", "-f", demuxer])
        .args(["-ss", &at, "-i"])
        .arg(input)
        .args(["-map", "0:v:0", "-frames:v", "1", "-an", "-sn", "-dn"])
        .args(["-vf", &scale])
        .args(["-f", "image2pipe", "-c:v", "png", "pipe:1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    limit_address_space(&mut command);
    let mut child = command
        .spawn()
        .map_err(|e| FrameError::Unavailable(format!("cannot run {}: {e}", ffmpeg.display())))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(out) = stdout {
            let _ = out.take(max_frame_bytes + 1).read_to_end(&mut bytes);
        }
        bytes
    });
    let errors = std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(err) = stderr {
            let mut err = err;
            let _ = (&mut err).take(MAX_STDERR).read_to_end(&mut text);
            // Drain the rest so that ffmpeg never blocks on a full pipe.
            let _ = std::io::copy(&mut err, &mut std::io::sink());
        }
        text
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > DEADLINE => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(FrameError::Unavailable(format!("waiting for ffmpeg: {e}")));
            }
        }
    };
    let bytes = reader.join().unwrap_or_default();
    let stderr = errors.join().unwrap_or_default();
    let said = String::from_utf8_lossy(&stderr).trim().replace('\n', "; ");
    match status {
        None => Err(FrameError::Unavailable(format!(
            "ffmpeg took longer than {} s for one frame; stopped",
            DEADLINE.as_secs()
        ))),
        Some(_) if bytes.len() as u64 > max_frame_bytes => Err(FrameError::Failed(format!(
            "ffmpeg's frame is larger than {max_frame_bytes} bytes"
        ))),
        Some(status) if !status.success() || bytes.is_empty() => {
            Err(FrameError::Failed(if said.is_empty() {
                format!("ffmpeg gave no frame ({status})")
            } else {
                format!("ffmpeg gave no frame: {said}")
            }))
        }
        Some(_) => Ok(bytes),
    }
}

#[cfg(target_os = "linux")]
fn limit_address_space(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec only `setrlimit` runs, which is
    // async-signal-safe; it allocates nothing and touches no lock.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: MAX_ADDRESS_SPACE,
                rlim_max: MAX_ADDRESS_SPACE,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn limit_address_space(_command: &mut Command) {}

/// The note a placeholder carries.
pub(crate) const NO_FFMPEG_NOTE: &str = "no frame: ffmpeg is not installed (Debian: apt-get install ffmpeg, or set KILN_FFMPEG to its path); then `kiln rerun thumbnail` makes the real thumbnails";

/// Thumbnails of a video: its frame through the image path, or a
/// placeholder when there is no `ffmpeg`. A video with no frame to take is
/// a permanent failure; `ffmpeg` not starting or running out of time a
/// transient one.
pub(crate) fn thumbnails(
    path: &Path,
    format: SourceFormat,
    size: Option<(u32, u32)>,
    duration: Option<f64>,
    config: &ThumbnailConfig,
) -> Result<(Thumbnails, Option<&'static str>), StageError> {
    let named = |e: ThumbnailError| StageError::permanent(format!("{}: {e}", path.display()));
    let max_side = config
        .proxy_side
        .max(config.thumbnail_side)
        .saturating_mul(2);
    match frame(path, format, duration, max_side) {
        Ok(png) => {
            let mut made = make_thumbnails(&png, config).map_err(named)?;
            // The frame may be scaled down: the size is the video's, turned
            // as the frame is (ffmpeg applies a rotation the track states).
            if let Some((width, height)) = size {
                let frame_wide = made.facts.width >= made.facts.height;
                (made.facts.width, made.facts.height) = if frame_wide == (width >= height) {
                    (width, height)
                } else {
                    (height, width)
                };
            }
            made.facts.format = format;
            made.facts.animated = true;
            made.facts.truncated = false;
            Ok((made, None))
        }
        Err(FrameError::NoFfmpeg) => Ok((
            placeholder(format, size, config).map_err(named)?,
            Some(NO_FFMPEG_NOTE),
        )),
        Err(FrameError::Failed(why)) => Err(named(ThumbnailError::Corrupt {
            format: format.name(),
            detail: why,
        })),
        Err(FrameError::Unavailable(why)) => {
            Err(StageError::transient(format!("{}: {why}", path.display())))
        }
    }
}

/// A dark frame of the video's shape with a play sign, as a PNG the image
/// path shrinks like any other.
fn placeholder(
    format: SourceFormat,
    size: Option<(u32, u32)>,
    config: &ThumbnailConfig,
) -> Result<Thumbnails, ThumbnailError> {
    let (w, h) = size.filter(|(w, h)| *w > 0 && *h > 0).unwrap_or((16, 9));
    let side = config.proxy_side.max(16);
    let scale = f64::from(side) / f64::from(w.max(h));
    let width = ((f64::from(w) * scale).round() as u32).clamp(16, side);
    let height = ((f64::from(h) * scale).round() as u32).clamp(16, side);
    let mut image = RgbImage::from_pixel(width, height, Rgb([38, 42, 50]));
    // A play triangle in the middle, a quarter of the shorter side high.
    let (cx, cy) = (f64::from(width) / 2.0, f64::from(height) / 2.0);
    let r = f64::from(width.min(height)) / 8.0;
    for y in 0..height {
        for x in 0..width {
            let (dx, dy) = (f64::from(x) - cx + r / 3.0, f64::from(y) - cy);
            if dx >= 0.0 && dx <= r * 1.5 && dy.abs() <= r - dx / 1.5 {
                image.put_pixel(x, y, Rgb([200, 204, 212]));
            }
        }
    }
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| ThumbnailError::Corrupt {
            format: format.name(),
            detail: format!("cannot draw the placeholder: {e}"),
        })?;
    let mut made = make_thumbnails(&png, config)?;
    made.facts.format = format;
    made.facts.animated = true;
    if let Some((w, h)) = size {
        made.facts.width = w;
        made.facts.height = h;
    }
    Ok(made)
}
