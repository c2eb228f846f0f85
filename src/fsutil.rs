//! Crash-safe file output: atomic replacement and single-writer locks.
//!
//! Sessions and rule exports are written to a temporary file in the same directory, flushed to
//! disk, then renamed over the target, so a crash or a full disk never leaves a half-written file
//! and never destroys the previous one. A lock file keeps a second holoscope from writing the
//! same session at once.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// True when `path` exists and is neither a regular file nor a directory: a device such as
/// `/dev/null`, a FIFO or a socket. Output to it is written in place: renaming a temporary
/// file over it would replace the device node with a plain file (as root, `-o /dev/null`
/// would break `/dev/null` for the whole machine).
#[must_use]
pub fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Writes `bytes` to `path` atomically: temp file + fsync + rename (+ fsync of the directory).
/// A device or FIFO ([`is_special`]) is written in place instead.
///
/// # Errors
/// Any I/O error; the previous file at `path`, if any, is then untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if is_special(path) {
        let mut f = OpenOptions::new().write(true).open(path)?;
        f.write_all(bytes)?;
        return f.flush();
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // The rename itself is durable only once the directory entry is synced.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// An exclusive lock on a file, held while the value lives (a `.lock` file beside it holding
/// our pid). A lock left by a process that no longer runs is taken over.
#[derive(Debug)]
pub struct FileLock {
    path: PathBuf,
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another live process holds it.
    #[error(
        "{path} is in use by another holoscope (pid {pid}); close it first or use another session file"
    )]
    Held {
        /// The locked file.
        path: String,
        /// The holder.
        pid: u32,
    },
    /// The lock file could not be created.
    #[error("cannot lock {path}: {source}")]
    Io {
        /// The locked file.
        path: String,
        /// The error.
        source: io::Error,
    },
}

fn pid_alive(pid: u32) -> bool {
    // Linux: a live process has a /proc entry. Elsewhere assume alive (refuse rather than corrupt).
    if Path::new("/proc/self").exists() {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

impl FileLock {
    /// Locks `target` (creates `target.lock`).
    ///
    /// # Errors
    /// [`LockError::Held`] when a live process holds it.
    pub fn acquire(target: &Path) -> Result<Self, LockError> {
        let mut lock = target.as_os_str().to_owned();
        lock.push(".lock");
        let path = PathBuf::from(lock);
        let shown = crate::text::escape_terminal_str(&target.display().to_string());
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    let _ = writeln!(f, "{}", std::process::id());
                    return Ok(Self { path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let pid = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|s| s.trim().parse::<u32>().ok());
                    match pid {
                        Some(pid) if pid_alive(pid) && pid != std::process::id() => {
                            return Err(LockError::Held { path: shown, pid });
                        }
                        // Stale (dead holder or unreadable): remove and retry once.
                        _ => {
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => {
                    return Err(LockError::Io {
                        path: shown,
                        source: e,
                    });
                }
            }
        }
        Err(LockError::Io {
            path: shown,
            source: io::Error::other("lock file keeps reappearing"),
        })
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn atomic_write_to_a_fifo_writes_through_and_keeps_the_fifo() {
        use std::io::Read;
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("out");
        let ok = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return;
        }
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                let mut s = String::new();
                File::open(&fifo).unwrap().read_to_string(&mut s).unwrap();
                s
            })
        };
        write_atomic(&fifo, b"report").unwrap();
        assert_eq!(reader.join().unwrap(), "report");
        let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
        assert!(kind.is_fifo(), "the FIFO was replaced by {kind:?}");
        assert!(is_special(&fifo) && !is_special(dir.path()));
    }

    #[test]
    fn atomic_write_replaces_and_failed_write_keeps_old_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.ron");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        // Writing into a directory that does not exist fails and leaves nothing behind.
        let bad = d.path().join("missing/s.ron");
        assert!(write_atomic(&bad, b"x").is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temp files left"
        );
    }

    #[test]
    fn second_lock_is_refused_and_stale_lock_taken_over() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.ron");
        // A lock held by a live process (pid 1 always exists on Linux).
        std::fs::write(d.path().join("s.ron.lock"), "1\n").unwrap();
        let err = FileLock::acquire(&p).unwrap_err();
        assert!(
            err.to_string().contains("in use by another holoscope"),
            "{err}"
        );
        // A stale lock (no such pid) is taken over, and released on drop.
        std::fs::write(d.path().join("s.ron.lock"), "4000000000\n").unwrap();
        let l = FileLock::acquire(&p).unwrap();
        drop(l);
        assert!(!d.path().join("s.ron.lock").exists());
    }
}
