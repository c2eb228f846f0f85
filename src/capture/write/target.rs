//! Where `--write` may not write: over the capture being read, or (when following) under a
//! name the follow would read back as a rotated file of that capture.

use super::part_path;
use std::path::{Path, PathBuf};

/// Refuses a `--write` target that would destroy or feed back into the input: the input file
/// itself (or its `.part`), or, when following, a name the follow would take for a rotated
/// file of the capture.
///
/// # Errors
/// A one-line message naming the conflict.
pub fn check_target(dest: &Path, input: &Path, follow: bool) -> Result<(), String> {
    let shown = |p: &Path| crate::text::escape_terminal_str(&p.display().to_string());
    if input.as_os_str() == "-" {
        return Ok(());
    }
    let resolve = |p: &Path| -> Option<(PathBuf, std::ffi::OsString)> {
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = std::fs::canonicalize(dir.unwrap_or(Path::new("."))).ok()?;
        Some((dir, p.file_name()?.to_os_string()))
    };
    let (Some((in_dir, in_name)), Some((out_dir, out_name))) = (resolve(input), resolve(dest))
    else {
        return Ok(());
    };
    let part = part_path(Path::new(&out_name));
    let same = |a: &std::ffi::OsStr| in_dir == out_dir && a == in_name;
    // A hard link or symlink to the input is caught by comparing inodes.
    let same_inode = {
        use std::os::unix::fs::MetadataExt as _;
        match (std::fs::metadata(input), std::fs::metadata(dest)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    };
    if same(&out_name) || same(part.as_os_str()) || same_inode {
        return Err(format!(
            "--write {}: that is the capture being read; choose another file",
            shown(dest)
        ));
    }
    #[cfg(feature = "follow")]
    if follow && in_dir == out_dir {
        let fam = crate::capture::follow::family(&in_name.to_string_lossy());
        let clash = [out_name.as_os_str(), part.as_os_str()]
            .iter()
            .any(|n| crate::capture::follow::family(&n.to_string_lossy()) == fam);
        if clash {
            return Err(format!(
                "--write {}: the follow would read it as a rotated file of {}; write it elsewhere",
                shown(dest),
                shown(input)
            ));
        }
    }
    #[cfg(not(feature = "follow"))]
    let _ = follow;
    Ok(())
}
