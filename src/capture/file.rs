//! Placeholder: filled in by the capture work (see capture.rs).
pub fn open(
    _p: &std::path::Path,
) -> Result<Box<dyn super::PacketSource + Send>, super::CaptureError> {
    Err(super::CaptureError::NotACapture {
        path: _p.into(),
        reason: String::new(),
    })
}
