//! holoscope: terminal-first investigation of network captures.
//!
//! Data flows one way:
//!
//! ```text
//! file|stdin|iface -> capture::PacketSource -RawPacket-> decode -Packet-> engine
//!     (timeline, flows, entities, algebra, subspaces, detectors) -> snapshots
//!     -> report | rules export | TUI | shell
//! ```
//!
//! The library has no UI dependency; the TUI and the shell live behind cargo features.

pub mod algebra;
pub mod bench;
pub mod capture;
pub mod command;
pub mod decode;
pub mod detect;
pub mod engine;
pub mod explain;
pub mod fsutil;
pub mod fuzz;
pub mod investigation;
pub mod report;
pub mod rules;
pub mod sample;
pub mod session;
#[cfg(feature = "shell")]
pub mod shell;
pub mod subspace;
pub mod text;
pub mod time;
pub mod timeline;
#[cfg(feature = "tui")]
pub mod ui;
