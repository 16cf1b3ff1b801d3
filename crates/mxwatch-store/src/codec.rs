//! Reports are stored as gzip-compressed JSON: an observation of a domain with
//! many exchanges is tens of kilobytes of repetitive text.

use crate::{Result, StoreError};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use std::io::{Read, Write};

/// Decompressed reports larger than this are refused as corrupt (a zip bomb is not a report).
const MAX_REPORT_BYTES: u64 = 64 * 1024 * 1024;

pub fn compress(json: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder
        .write_all(json)
        .expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

pub fn decompress(blob: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    GzDecoder::new(blob)
        .take(MAX_REPORT_BYTES)
        .read_to_end(&mut out)
        .map_err(|e| StoreError::Corrupt(format!("stored report does not decompress: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let json = br#"{"domain":"example.com"}"#.repeat(100);
        let blob = super::compress(&json);
        assert!(blob.len() < json.len() / 5);
        assert_eq!(super::decompress(&blob).unwrap(), json);
        assert!(super::decompress(b"not gzip").is_err());
    }
}
