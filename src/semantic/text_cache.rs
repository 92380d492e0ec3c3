//! The embeddings of query texts, kept on disk beside the store
//! (`<store>/cache/text-embeddings/<model version>/`), so that a new
//! process asked a text it was asked before (a one-off `kiln search
//! '~"…"'`) ranks without loading the model.
//!
//! A cache only: one small file per text, named by the BLAKE3 hash of the
//! text, written through a temporary file and renamed into place (so
//! processes sharing the store never see half a file), at most
//! [`MAX_TEXTS`] per model version (the oldest go first). A file that is
//! not what this module writes (wrong size, dimension, text hash, a value
//! not finite or not of unit length) is ignored and written again. Failing
//! to read or write it only means the model runs.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The most texts kept per model version.
pub(crate) const MAX_TEXTS: usize = 4096;
const MAGIC: &[u8; 4] = b"KTE1";
const HEADER: usize = 4 + 4 + 32;

/// The cached embeddings of one model version in one store.
#[derive(Debug, Clone)]
pub(crate) struct TextCache {
    dir: PathBuf,
    dim: usize,
    /// The most texts kept: [`MAX_TEXTS`].
    max: usize,
}

impl TextCache {
    pub(crate) fn new(store_dir: &Path, version: u32, dim: usize) -> TextCache {
        TextCache {
            dir: store_dir
                .join(kiln_engine::CACHE_DIR)
                .join("text-embeddings")
                .join(format!("{version:08x}")),
            dim,
            max: MAX_TEXTS,
        }
    }

    fn path(&self, hash: &blake3::Hash) -> PathBuf {
        self.dir.join(format!("{}.f32", hash.to_hex()))
    }

    /// The embedding kept for `text`, if a sound one is there.
    pub(crate) fn get(&self, text: &str) -> Option<Vec<f32>> {
        let hash = blake3::hash(text.as_bytes());
        let path = self.path(&hash);
        let expected = HEADER + self.dim * 4;
        if fs::metadata(&path).ok()?.len() != expected as u64 {
            return None;
        }
        let bytes = fs::read(&path).ok()?;
        if bytes.len() != expected
            || &bytes[..4] != MAGIC
            || bytes[4..8] != u32::try_from(self.dim).ok()?.to_le_bytes()
            || bytes[8..HEADER] != *hash.as_bytes()
        {
            return None;
        }
        let embedding: Vec<f32> = bytes[HEADER..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let norm: f32 = embedding.iter().map(|x| x * x).sum::<f32>().sqrt();
        (embedding.iter().all(|x| x.is_finite()) && (norm - 1.0).abs() < 1e-3).then_some(embedding)
    }

    /// Forgets every text of this model version.
    pub(crate) fn clear(&self) {
        let _ = fs::remove_dir_all(&self.dir);
    }

    /// Keeps `embedding` for `text`; quietly does nothing when it cannot.
    pub(crate) fn put(&self, text: &str, embedding: &[f32]) {
        if embedding.len() != self.dim {
            return;
        }
        let _ = self.write(text, embedding);
    }

    fn write(&self, text: &str, embedding: &[f32]) -> std::io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let hash = blake3::hash(text.as_bytes());
        let mut bytes = Vec::with_capacity(HEADER + embedding.len() * 4);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&u32::try_from(self.dim).unwrap_or(0).to_le_bytes());
        bytes.extend_from_slice(hash.as_bytes());
        for x in embedding {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        let temporary = self
            .dir
            .join(format!(".{}.{}.tmp", hash.to_hex(), std::process::id()));
        let written = fs::File::create(&temporary).and_then(|mut file| file.write_all(&bytes));
        let placed = written.and_then(|()| fs::rename(&temporary, self.path(&hash)));
        if placed.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        placed?;
        self.prune()
    }

    /// Keeps the newest `max` files, removing the oldest down to three
    /// quarters of that when there are more. Only names are read until
    /// there are too many.
    fn prune(&self) -> std::io::Result<()> {
        let ours: Vec<PathBuf> = fs::read_dir(&self.dir)?
            .flatten()
            .filter(|entry| {
                entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.ends_with(".f32") && !n.starts_with('.'))
            })
            .map(|entry| entry.path())
            .collect();
        if ours.len() <= self.max {
            return Ok(());
        }
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = ours
            .into_iter()
            .map(|path| {
                let modified = fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                (modified, path)
            })
            .collect();
        files.sort();
        let excess = files.len() - self.max * 3 / 4;
        for (_, path) in files.into_iter().take(excess) {
            let _ = fs::remove_file(path);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(dim: usize, seed: f32) -> Vec<f32> {
        let raw: Vec<f32> = (0..dim).map(|i| (i as f32 + seed).sin()).collect();
        let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt();
        raw.iter().map(|x| x / norm).collect()
    }

    #[test]
    fn texts_are_kept_per_version_and_damaged_files_ignored() {
        let store = tempfile::tempdir().expect("tempdir");
        let cache = TextCache::new(store.path(), 0x8000_0001, 8);
        let other_version = TextCache::new(store.path(), 0x8000_0002, 8);
        let lighthouse = unit(8, 1.0);
        assert_eq!(cache.get("a lighthouse"), None);
        cache.put("a lighthouse", &lighthouse);
        assert_eq!(cache.get("a lighthouse"), Some(lighthouse.clone()));
        assert_eq!(cache.get("a lighthouse "), None, "the text exactly");
        assert_eq!(other_version.get("a lighthouse"), None);
        cache.put("wrong length", &[1.0; 4]);
        assert_eq!(cache.get("wrong length"), None);

        // A file damaged or swapped for another text's is ignored.
        let path = cache.path(&blake3::hash(b"a lighthouse"));
        let mut bytes = fs::read(&path).expect("read");
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        fs::write(&path, &bytes).expect("write");
        assert_eq!(cache.get("a lighthouse"), None, "not of unit length");
        cache.put("a forest", &unit(8, 2.0));
        fs::copy(cache.path(&blake3::hash(b"a forest")), &path).expect("copy");
        assert_eq!(cache.get("a lighthouse"), None, "another text's file");
        fs::write(&path, b"short").expect("write");
        assert_eq!(cache.get("a lighthouse"), None);
        cache.put("a lighthouse", &lighthouse);
        assert_eq!(cache.get("a lighthouse"), Some(lighthouse));
    }

    #[test]
    fn the_oldest_texts_go_when_there_are_too_many() {
        let store = tempfile::tempdir().expect("tempdir");
        let mut cache = TextCache::new(store.path(), 0x8000_0001, 4);
        cache.max = 40;
        cache.put("first", &unit(4, 0.5));
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        fs::File::options()
            .write(true)
            .open(cache.path(&blake3::hash(b"first")))
            .and_then(|f| f.set_modified(old))
            .expect("age the first");
        for i in 0..40 {
            cache.put(&format!("text {i}"), &unit(4, i as f32));
        }
        let kept = fs::read_dir(&cache.dir).expect("dir").count();
        assert!((30..=40).contains(&kept), "{kept} files kept");
        assert_eq!(cache.get("first"), None, "the oldest went first");
        assert!(cache.get("text 39").is_some());
    }
}
