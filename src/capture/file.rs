//! Opening captures: files, standard input or any reader. Compression and container are decided
//! by the stream's signature; gzip and zstd are unwrapped as streams (never into memory).

use crate::capture::format::{Container, Reject, compression_of, sniff};
use crate::capture::input::{Counting, Input, IoShared, Latch, read_full};
use crate::capture::legacy::LegacySink;
use crate::capture::pcapng::NgSink;
use crate::capture::stream::{INITIAL_CAPACITY, Pump, Source};
use crate::capture::{CaptureError, CaptureInfo, Compression, PacketSource};
use pcap_parser::{LegacyPcapReader, PcapNGReader};
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Opens a capture file; `-` reads standard input.
///
/// # Errors
/// `Io` if the file cannot be opened or read, `NotACapture` if its signature or header is not
/// one we read.
pub fn open(path: &Path) -> Result<Box<dyn PacketSource + Send>, CaptureError> {
    if path.as_os_str() == "-" {
        return from_reader("-".into(), Box::new(io::stdin()));
    }
    let file = File::open(path).map_err(|source| CaptureError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    from_reader(path.display().to_string(), Box::new(file))
}

/// Reads a capture from any stream (standard input, tests). `name` is used in messages and in
/// [`CaptureInfo::source`].
///
/// # Errors
/// As [`open`].
pub fn from_reader(
    name: String,
    r: Box<dyn Read + Send>,
) -> Result<Box<dyn PacketSource + Send>, CaptureError> {
    let path = PathBuf::from(&name);
    let io_err = |source| CaptureError::Io {
        path: path.clone(),
        source,
    };
    let not = |reason| CaptureError::NotACapture {
        path: path.clone(),
        reason,
    };
    let shared = Arc::new(IoShared::default());
    let mut raw: Box<dyn Read + Send> = Box::new(Counting {
        inner: r,
        shared: shared.clone(),
    });

    let mut head = Vec::new();
    read_full(&mut raw, &mut head, 4).map_err(io_err)?;
    let compression = compression_of(&head);
    let (mut stream, prefix): (Box<dyn Read + Send>, Vec<u8>) = match compression {
        Compression::None => (
            Box::new(Latch {
                inner: raw,
                shared: shared.clone(),
            }),
            head,
        ),
        Compression::Gzip => {
            let inner = flate2::read::MultiGzDecoder::new(Cursor::new(head).chain(raw));
            (
                Box::new(Latch {
                    inner,
                    shared: shared.clone(),
                }),
                Vec::new(),
            )
        }
        Compression::Zstd => {
            let inner =
                zstd::stream::read::Decoder::new(Cursor::new(head).chain(raw)).map_err(io_err)?;
            (
                Box::new(Latch {
                    inner,
                    shared: shared.clone(),
                }),
                Vec::new(),
            )
        }
    };
    let wrapper = match compression {
        Compression::None => "",
        Compression::Gzip => " (inside gzip)",
        Compression::Zstd => " (inside zstd)",
    };
    let sniffed = match sniff(&mut stream, prefix) {
        Ok(s) => s,
        Err(Reject::Not(reason)) => return Err(not(format!("{reason}{wrapper}"))),
        Err(Reject::Io(_)) if compression != Compression::None => {
            return Err(not(format!("corrupt compressed stream{wrapper}")));
        }
        Err(Reject::Io(e)) => return Err(io_err(e)),
    };
    let info = CaptureInfo {
        source: name.clone(),
        format: sniffed.format,
        compression,
    };
    let capacity = INITIAL_CAPACITY.max(sniffed.prefix.len() + 1);
    let input: Input = Cursor::new(sniffed.prefix).chain(stream);
    let pump = Pump::new(
        path.clone(),
        capacity,
        shared,
        compression != Compression::None,
    );
    // The readers re-check the header we already validated; a failure here means the stream
    // changed under us, reported like any other bad header.
    let bad_header = |_| not("unparseable capture header".into());
    match sniffed.container {
        Container::Legacy(layout) => {
            let reader = LegacyPcapReader::new(capacity, input).map_err(bad_header)?;
            let sink = LegacySink::new(layout);
            Ok(Box::new(Source {
                info,
                reader,
                pump,
                sink,
                ended: false,
            }))
        }
        Container::Pcapng => {
            let reader = PcapNGReader::new(capacity, input).map_err(bad_header)?;
            let sink = NgSink::default();
            Ok(Box::new(Source {
                info,
                reader,
                pump,
                sink,
                ended: false,
            }))
        }
    }
}
