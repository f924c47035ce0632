//! The audio cache in `cache_dir`: one content file and one small sidecar per entry, both
//! written atomically (temporary file, then rename), checked on every read.
//!
//! Layout: `<namespace>-<32 hex>.audio` holds the bytes; `<namespace>-<32 hex>.json` holds
//! `{"media_type", "len", "sha256"}`. A read whose content does not match its sidecar
//! (truncated, overwritten, a crash between the two renames) is a miss, and the entry is
//! removed so that the caller fetches it again. The key is a SHA-256 over length-prefixed
//! parts, so that no two different part lists share a file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::Audio;

/// A cache key: a namespace (`tts`, `file`, …) and a hash of the parts that decide the
/// content.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    namespace: String,
    hash: String,
}

impl CacheKey {
    /// A key from parts. `namespace` must be short and made of `[a-z0-9_]` (it becomes part
    /// of the file name; other characters are replaced by `_`). Every part counts, in order.
    ///
    /// The engine keys converted audio files as
    /// `CacheKey::from_parts("file", &[path, &mtime_nanos.to_string(), &rate.to_string()])`.
    pub fn from_parts(namespace: &str, parts: &[&str]) -> Self {
        let mut h = Sha256::new();
        h.update(namespace.as_bytes());
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
        let digest = h.finalize();
        let namespace: String = namespace
            .chars()
            .take(16)
            .map(|c| {
                if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Self {
            namespace,
            hash: hex(&digest[..16]),
        }
    }

    /// The file stem: `<namespace>-<32 hex>`.
    pub fn stem(&self) -> String {
        format!("{}-{}", self.namespace, self.hash)
    }
}

/// Why a cache cannot be used or written.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The directory does not exist (ha-sip never creates it either).
    #[error("cache directory {0} does not exist or is not a directory")]
    NoDirectory(PathBuf),
    /// Writing failed.
    #[error("writing cache file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The cache directory.
#[derive(Debug, Clone)]
pub struct AudioCache {
    dir: PathBuf,
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl AudioCache {
    /// Uses `dir`, which must exist.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, CacheError> {
        let dir = dir.into();
        if !dir.is_dir() {
            return Err(CacheError::NoDirectory(dir));
        }
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the content of `key` lives.
    pub fn content_path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.audio", key.stem()))
    }

    /// Where the sidecar of `key` lives.
    pub fn sidecar_path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.json", key.stem()))
    }

    /// The cached audio, if present and intact. A damaged entry is logged, removed and
    /// reported as a miss; read errors are misses too (the caller fetches again).
    pub async fn get(&self, key: &CacheKey) -> Option<Audio> {
        let sidecar_path = self.sidecar_path(key);
        let content_path = self.content_path(key);
        let sidecar = match tokio::fs::read(&sidecar_path).await {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if tokio::fs::metadata(&content_path).await.is_ok() {
                    self.discard(key, "its sidecar is missing").await;
                }
                return None;
            }
            Err(e) => {
                tracing::warn!("cache: cannot read {}: {e}", sidecar_path.display());
                return None;
            }
        };
        let meta: serde_json::Value = match serde_json::from_slice(&sidecar) {
            Ok(m) => m,
            Err(e) => {
                self.discard(key, &format!("its sidecar is not JSON ({e})"))
                    .await;
                return None;
            }
        };
        let (Some(media_type), Some(len), Some(sum)) = (
            meta.get("media_type").and_then(|v| v.as_str()),
            meta.get("len").and_then(serde_json::Value::as_u64),
            meta.get("sha256").and_then(|v| v.as_str()),
        ) else {
            self.discard(key, "its sidecar lacks media_type, len or sha256")
                .await;
            return None;
        };
        let data = match tokio::fs::read(&content_path).await {
            Ok(d) => d,
            Err(e) => {
                self.discard(key, &format!("its content cannot be read ({e})"))
                    .await;
                return None;
            }
        };
        if data.len() as u64 != len {
            self.discard(
                key,
                &format!(
                    "its content has {} bytes, the sidecar says {len}",
                    data.len()
                ),
            )
            .await;
            return None;
        }
        if hex(&Sha256::digest(&data)) != sum {
            self.discard(key, "its content does not match the sidecar's checksum")
                .await;
            return None;
        }
        tracing::debug!("cache: hit {}", content_path.display());
        Some(Audio {
            data: Bytes::from(data),
            media_type: media_type.to_owned(),
        })
    }

    /// Stores `audio` under `key`: content first, then the sidecar, each through a
    /// temporary file and a rename, so that a reader sees the old entry, the new one, or a
    /// mismatch it detects — never a half-written file it trusts.
    pub async fn put(&self, key: &CacheKey, audio: &Audio) -> Result<PathBuf, CacheError> {
        let content_path = self.content_path(key);
        let sidecar = json!({
            "media_type": audio.media_type,
            "len": audio.data.len(),
            "sha256": hex(&Sha256::digest(&audio.data)),
        });
        write_atomic(&content_path, &audio.data).await?;
        let sidecar_bytes = serde_json::to_vec_pretty(&sidecar).unwrap_or_default();
        write_atomic(&self.sidecar_path(key), &sidecar_bytes).await?;
        tracing::debug!("cache: stored {}", content_path.display());
        Ok(content_path)
    }

    /// Removes an entry (both files). Missing files are fine.
    pub async fn remove(&self, key: &CacheKey) {
        let _ = tokio::fs::remove_file(self.sidecar_path(key)).await;
        let _ = tokio::fs::remove_file(self.content_path(key)).await;
    }

    async fn discard(&self, key: &CacheKey, why: &str) {
        tracing::warn!(
            "cache: entry {} is damaged ({why}); removing it and fetching again",
            self.content_path(key).display()
        );
        self.remove(key).await;
    }
}

async fn write_atomic(path: &Path, data: &[u8]) -> Result<(), CacheError> {
    let err = |source| CacheError::Write {
        path: path.to_owned(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        TMP_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = async {
        tokio::fs::write(&tmp, data).await?;
        tokio::fs::rename(&tmp, path).await
    }
    .await;
    if let Err(e) = result {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(err(e));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hasip-ha-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn keys_separate_parts() {
        let a = CacheKey::from_parts("tts", &["ab", "c"]);
        let b = CacheKey::from_parts("tts", &["a", "bc"]);
        let c = CacheKey::from_parts("file", &["ab", "c"]);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, CacheKey::from_parts("tts", &["ab", "c"]));
        assert!(a.stem().starts_with("tts-"));
        assert_eq!(a.stem().len(), 4 + 32);
        assert!(
            CacheKey::from_parts("../x", &[])
                .stem()
                .starts_with("___x-")
        );
    }

    #[test]
    fn round_trip_and_damage() {
        let dir = tmpdir("rt");
        let cache = AudioCache::new(&dir).unwrap();
        let key = CacheKey::from_parts("tts", &["hello"]);
        let audio = Audio {
            data: Bytes::from_static(b"RIFF....WAVEdata"),
            media_type: "audio/wav".into(),
        };
        rt().block_on(async {
            assert!(cache.get(&key).await.is_none());
            cache.put(&key, &audio).await.unwrap();
            assert_eq!(cache.get(&key).await.unwrap(), audio);

            // Truncated content: a miss, and the entry is gone.
            std::fs::write(cache.content_path(&key), b"RIFF").unwrap();
            assert!(cache.get(&key).await.is_none());
            assert!(!cache.sidecar_path(&key).exists());
            assert!(!cache.content_path(&key).exists());

            // Same length, different bytes.
            cache.put(&key, &audio).await.unwrap();
            std::fs::write(cache.content_path(&key), b"RIFF....WAVEdatX").unwrap();
            assert!(cache.get(&key).await.is_none());

            // Garbage sidecar; content without sidecar.
            cache.put(&key, &audio).await.unwrap();
            std::fs::write(cache.sidecar_path(&key), b"{").unwrap();
            assert!(cache.get(&key).await.is_none());
            cache.put(&key, &audio).await.unwrap();
            std::fs::remove_file(cache.sidecar_path(&key)).unwrap();
            assert!(cache.get(&key).await.is_none());
            assert!(!cache.content_path(&key).exists());
        });
        // No temporary files are left behind.
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_directory_is_an_error() {
        let e = AudioCache::new("/nonexistent/hasip-cache").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/hasip-cache"));
    }
}
