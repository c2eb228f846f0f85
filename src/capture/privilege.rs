//! Dropping root after the capture socket is open.
//!
//! `sudo holoscope report --interface eth0 -o out.json` needs root only to open the AF_PACKET
//! socket. Once it is open, [`drop_to_invoking_user`] switches the whole process (every thread:
//! glibc applies set*id to all of them) to the user who ran sudo (`SUDO_UID`/`SUDO_GID`), so
//! reports, exports and sessions are owned by that user and a bug in a parser never runs as
//! root. Started as root without sudo (a service), the process stays root: there is no user to
//! return to.

use nix::unistd::{Gid, Uid, getuid, setgid, setgroups, setuid};

/// Who the process now runs as, after a successful drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// The user id now in effect.
    pub uid: u32,
    /// The group id now in effect.
    pub gid: u32,
}

fn env_id(name: &str) -> Option<u32> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// Drops from root to the sudo user. `Ok(None)` when not root or not started through sudo.
///
/// # Errors
/// When the switch fails or root could be regained afterwards; the caller must then stop
/// rather than go on as root.
pub fn drop_to_invoking_user() -> Result<Option<Dropped>, String> {
    if !getuid().is_root() {
        return Ok(None);
    }
    let (Some(uid), Some(gid)) = (env_id("SUDO_UID"), env_id("SUDO_GID")) else {
        return Ok(None);
    };
    if uid == 0 {
        return Ok(None);
    }
    // Order matters: supplementary groups and the group first, while still root.
    setgroups(&[Gid::from_raw(gid)]).map_err(|e| format!("setgroups: {e}"))?;
    setgid(Gid::from_raw(gid)).map_err(|e| format!("setgid({gid}): {e}"))?;
    setuid(Uid::from_raw(uid)).map_err(|e| format!("setuid({uid}): {e}"))?;
    if setuid(Uid::from_raw(0)).is_ok() {
        return Err("root privileges could be regained after dropping them".into());
    }
    Ok(Some(Dropped { uid, gid }))
}
