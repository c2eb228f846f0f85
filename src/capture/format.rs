//! Placeholder: filled in by the capture work (see capture.rs).
