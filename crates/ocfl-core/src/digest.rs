//! Digest algorithms: the content-addressing ones (`sha512`, `sha256`), the spec's fixity
//! vocabulary, extension 0009's additions, and `blake3` as a local fixity algorithm.
//!
//! `blake3` is not registered by any OCFL extension: it is a local fixity algorithm of this
//! toolkit, accepted only in the `fixity` block and never written unless a caller asks for it.
//! The specification lets clients ignore fixity algorithms they do not support (E028), but
//! other validators differ: ocfl-py 2.1 reports an unregistered fixity algorithm as E056. Use
//! it for objects that only this toolkit reads, or keep it out of shared archives.

use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;

use blake2::Blake2b;
use blake2::digest::consts::{U20, U32, U48, U64};
use sha2::Digest as _;

/// A digest algorithm known to this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DigestAlgorithm {
    /// SHA-512: the default content-addressing algorithm.
    Sha512,
    /// SHA-256: the other allowed content-addressing algorithm.
    Sha256,
    /// SHA-1 (fixity only).
    Sha1,
    /// MD5 (fixity only).
    Md5,
    /// BLAKE2b with a 512-bit output (fixity only).
    Blake2b512,
    /// BLAKE2b with a 384-bit output (extension 0009; fixity only).
    Blake2b384,
    /// BLAKE2b with a 256-bit output (extension 0009; fixity only).
    Blake2b256,
    /// BLAKE2b with a 160-bit output (extension 0009; fixity only).
    Blake2b160,
    /// SHA-512/256 (extension 0009; fixity only).
    Sha512_256,
    /// The file size in bytes as a decimal number (extension 0009; fixity only).
    Size,
    /// BLAKE3 with a 256-bit output: a local fixity algorithm of this toolkit.
    Blake3,
}

impl DigestAlgorithm {
    /// Every algorithm, content-addressing ones first.
    pub const ALL: [DigestAlgorithm; 11] = [
        DigestAlgorithm::Sha512,
        DigestAlgorithm::Sha256,
        DigestAlgorithm::Sha1,
        DigestAlgorithm::Md5,
        DigestAlgorithm::Blake2b512,
        DigestAlgorithm::Blake2b384,
        DigestAlgorithm::Blake2b256,
        DigestAlgorithm::Blake2b160,
        DigestAlgorithm::Sha512_256,
        DigestAlgorithm::Size,
        DigestAlgorithm::Blake3,
    ];

    /// The name used in inventories (`digestAlgorithm` and fixity keys).
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha512 => "sha512",
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha1 => "sha1",
            DigestAlgorithm::Md5 => "md5",
            DigestAlgorithm::Blake2b512 => "blake2b-512",
            DigestAlgorithm::Blake2b384 => "blake2b-384",
            DigestAlgorithm::Blake2b256 => "blake2b-256",
            DigestAlgorithm::Blake2b160 => "blake2b-160",
            DigestAlgorithm::Sha512_256 => "sha512/256",
            DigestAlgorithm::Size => "size",
            DigestAlgorithm::Blake3 => "blake3",
        }
    }

    /// The algorithm with this inventory name (exact, case-sensitive match).
    pub fn from_name(name: &str) -> Option<DigestAlgorithm> {
        DigestAlgorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether OCFL allows this algorithm as `digestAlgorithm` (E025).
    pub fn is_content_algorithm(self) -> bool {
        matches!(self, DigestAlgorithm::Sha512 | DigestAlgorithm::Sha256)
    }

    /// Whether the algorithm is in the spec's fixity table or a registered extension
    /// (extension 0009). `blake3` is ours alone and is not.
    pub fn is_registered(self) -> bool {
        self != DigestAlgorithm::Blake3
    }

    /// Length in hex characters of a digest, or `None` for `size` (a decimal number).
    pub fn hex_len(self) -> Option<usize> {
        match self {
            DigestAlgorithm::Sha512 | DigestAlgorithm::Blake2b512 => Some(128),
            DigestAlgorithm::Blake2b384 => Some(96),
            DigestAlgorithm::Sha256
            | DigestAlgorithm::Blake2b256
            | DigestAlgorithm::Sha512_256
            | DigestAlgorithm::Blake3 => Some(64),
            DigestAlgorithm::Sha1 | DigestAlgorithm::Blake2b160 => Some(40),
            DigestAlgorithm::Md5 => Some(32),
            DigestAlgorithm::Size => None,
        }
    }

    /// Whether `value` has the form of a digest of this algorithm: hex of the right length
    /// in either case, or a decimal number for `size`.
    pub fn is_well_formed(self, value: &str) -> bool {
        match self.hex_len() {
            Some(len) => value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit()),
            None => {
                !value.is_empty()
                    && value.bytes().all(|b| b.is_ascii_digit())
                    && value.parse::<u64>().is_ok()
            }
        }
    }

    /// A fresh streaming hasher for this algorithm.
    pub fn hasher(self) -> Hasher {
        let state = match self {
            DigestAlgorithm::Sha512 => State::Sha512(sha2::Sha512::new()),
            DigestAlgorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
            DigestAlgorithm::Sha1 => State::Sha1(sha1::Sha1::new()),
            DigestAlgorithm::Md5 => State::Md5(md5::Md5::new()),
            DigestAlgorithm::Blake2b512 => State::Blake2b512(Blake2b::<U64>::new()),
            DigestAlgorithm::Blake2b384 => State::Blake2b384(Blake2b::<U48>::new()),
            DigestAlgorithm::Blake2b256 => State::Blake2b256(Blake2b::<U32>::new()),
            DigestAlgorithm::Blake2b160 => State::Blake2b160(Blake2b::<U20>::new()),
            DigestAlgorithm::Sha512_256 => State::Sha512_256(sha2::Sha512_256::new()),
            DigestAlgorithm::Size => State::Size(0),
            DigestAlgorithm::Blake3 => State::Blake3(Box::new(blake3::Hasher::new())),
        };
        Hasher { state }
    }

    /// The digest of `data`.
    pub fn digest_bytes(self, data: &[u8]) -> Digest {
        let mut hasher = self.hasher();
        hasher.update(data);
        hasher.finalize()
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A computed or parsed digest value, held in lower case so that values compare
/// case-insensitively as the specification requires.
///
/// The text is shared, not copied, by clones: a digest is named by the stage, the manifest,
/// the version state and the plan's steps alike, and for 100,000 files a copy of 128
/// characters at each place was tens of megabytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(Arc<str>);

impl Digest {
    /// A digest from any-case text (it is lower-cased; no format check is made).
    pub fn new(value: &str) -> Digest {
        Digest(value.to_ascii_lowercase().into())
    }

    /// The lower-case text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `other` is this digest in any case.
    pub fn matches(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A streaming hasher for one algorithm.
pub struct Hasher {
    state: State,
}

enum State {
    Sha512(sha2::Sha512),
    Sha256(sha2::Sha256),
    Sha1(sha1::Sha1),
    Md5(md5::Md5),
    Blake2b512(Blake2b<U64>),
    Blake2b384(Blake2b<U48>),
    Blake2b256(Blake2b<U32>),
    Blake2b160(Blake2b<U20>),
    Sha512_256(sha2::Sha512_256),
    Size(u64),
    Blake3(Box<blake3::Hasher>),
}

impl Hasher {
    /// Feeds more bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Sha512(h) => h.update(data),
            State::Sha256(h) => h.update(data),
            State::Sha1(h) => h.update(data),
            State::Md5(h) => h.update(data),
            State::Blake2b512(h) => h.update(data),
            State::Blake2b384(h) => h.update(data),
            State::Blake2b256(h) => h.update(data),
            State::Blake2b160(h) => h.update(data),
            State::Sha512_256(h) => h.update(data),
            State::Size(n) => *n += data.len() as u64,
            State::Blake3(h) => {
                h.update(data);
            }
        }
    }

    /// The digest of everything fed so far.
    pub fn finalize(self) -> Digest {
        let hex = match self.state {
            State::Sha512(h) => to_hex(&h.finalize()),
            State::Sha256(h) => to_hex(&h.finalize()),
            State::Sha1(h) => to_hex(&h.finalize()),
            State::Md5(h) => to_hex(&h.finalize()),
            State::Blake2b512(h) => to_hex(&h.finalize()),
            State::Blake2b384(h) => to_hex(&h.finalize()),
            State::Blake2b256(h) => to_hex(&h.finalize()),
            State::Blake2b160(h) => to_hex(&h.finalize()),
            State::Sha512_256(h) => to_hex(&h.finalize()),
            State::Size(n) => n.to_string(),
            State::Blake3(h) => h.finalize().to_hex().to_string(),
        };
        Digest(hex.into())
    }
}

/// Lower-case hex of `bytes`. `hex::encode` goes through a `char` iterator, which was a
/// measurable share of validating many small files; this writes the bytes directly.
fn to_hex(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    // Cannot fail: the output is exactly twice the input's length.
    let _ = hex::encode_to_slice(bytes, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Computes several digests of the same bytes in one pass.
pub struct MultiDigester {
    hashers: Vec<(DigestAlgorithm, Hasher)>,
}

/// Buffer size for streaming reads: large enough to amortise syscalls, small enough that
/// memory does not grow with file size.
pub const STREAM_BUFFER: usize = 256 * 1024;

impl MultiDigester {
    /// A digester for `algorithms` (duplicates are computed once).
    pub fn new(algorithms: impl IntoIterator<Item = DigestAlgorithm>) -> MultiDigester {
        let mut hashers: Vec<(DigestAlgorithm, Hasher)> = Vec::new();
        for algorithm in algorithms {
            if !hashers.iter().any(|(a, _)| *a == algorithm) {
                hashers.push((algorithm, algorithm.hasher()));
            }
        }
        MultiDigester { hashers }
    }

    /// Feeds more bytes to every algorithm.
    pub fn update(&mut self, data: &[u8]) {
        for (_, hasher) in &mut self.hashers {
            hasher.update(data);
        }
    }

    /// The digests, in the order the algorithms were first given.
    pub fn finalize(self) -> Vec<(DigestAlgorithm, Digest)> {
        self.hashers
            .into_iter()
            .map(|(algorithm, hasher)| (algorithm, hasher.finalize()))
            .collect()
    }

    /// Reads `reader` to its end, feeding every byte, and returns the digests.
    pub fn digest_reader(
        mut self,
        reader: &mut dyn Read,
    ) -> io::Result<Vec<(DigestAlgorithm, Digest)>> {
        with_stream_buffer(|buffer| {
            loop {
                let n = match reader.read(buffer) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                self.update(&buffer[..n]);
            }
            Ok(())
        })?;
        Ok(self.finalize())
    }
}

thread_local! {
    static STREAM_BUFFERS: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with a [`STREAM_BUFFER`]-sized buffer reused by the calling thread.
///
/// Hashing many small files must not allocate (and zero, and page-fault) a fresh buffer per
/// file: a buffer this size is `mmap`ed by the allocator, and the faults serialise threads on
/// the process's memory map (about a tenth of the CPU time when validating 20,000 small files).
pub(crate) fn with_stream_buffer<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    STREAM_BUFFERS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffer) => {
            if buffer.len() < STREAM_BUFFER {
                buffer.resize(STREAM_BUFFER, 0);
            }
            f(&mut buffer)
        }
        // Re-entered from inside a reader: fall back to a private buffer.
        Err(_) => f(&mut vec![0u8; STREAM_BUFFER]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known-answer digests of the ASCII bytes `abc` (FIPS 180-4, RFC 1321, RFC 7693, and the
    /// BLAKE3 reference implementation's published vectors).
    const ABC: &[(DigestAlgorithm, &str)] = &[
        (
            DigestAlgorithm::Sha512,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
        (
            DigestAlgorithm::Sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            DigestAlgorithm::Sha1,
            "a9993e364706816aba3e25717850c26c9cd0d89d",
        ),
        (DigestAlgorithm::Md5, "900150983cd24fb0d6963f7d28e17f72"),
        (
            DigestAlgorithm::Blake2b512,
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923",
        ),
        (
            DigestAlgorithm::Sha512_256,
            "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23",
        ),
        (DigestAlgorithm::Size, "3"),
        (
            DigestAlgorithm::Blake3,
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85",
        ),
    ];

    #[test]
    fn known_answers() {
        for (algorithm, expected) in ABC {
            assert_eq!(
                algorithm.digest_bytes(b"abc").as_str(),
                *expected,
                "{algorithm}"
            );
            assert!(algorithm.is_well_formed(expected), "{algorithm}");
        }
    }

    #[test]
    fn output_lengths_match_hex_len() {
        for algorithm in DigestAlgorithm::ALL {
            let d = algorithm.digest_bytes(b"");
            match algorithm.hex_len() {
                Some(len) => assert_eq!(d.as_str().len(), len, "{algorithm}"),
                None => assert_eq!(d.as_str(), "0"),
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for algorithm in DigestAlgorithm::ALL {
            assert_eq!(
                DigestAlgorithm::from_name(algorithm.name()),
                Some(algorithm)
            );
        }
        assert_eq!(DigestAlgorithm::from_name("SHA512"), None);
    }

    #[test]
    fn multi_digester_equals_single_digests_across_chunk_boundaries() {
        let data: Vec<u8> = (0..(STREAM_BUFFER * 2 + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        let digests = MultiDigester::new(DigestAlgorithm::ALL)
            .digest_reader(&mut data.as_slice())
            .expect("reading a slice cannot fail");
        assert_eq!(digests.len(), DigestAlgorithm::ALL.len());
        for (algorithm, digest) in digests {
            assert_eq!(digest, algorithm.digest_bytes(&data), "{algorithm}");
        }
    }

    #[test]
    fn digests_compare_case_insensitively() {
        let d = Digest::new("ABCdef");
        assert!(d.matches("abcDEF"));
        assert_eq!(d, Digest::new("abcdef"));
        assert!(!d.matches("abcde0"));
    }

    #[test]
    fn well_formedness() {
        assert!(!DigestAlgorithm::Md5.is_well_formed("900150983cd24fb0d6963f7d28e17f7"));
        assert!(!DigestAlgorithm::Md5.is_well_formed("900150983cd24fb0d6963f7d28e17f7g"));
        assert!(DigestAlgorithm::Md5.is_well_formed("900150983CD24FB0D6963F7D28E17F72"));
        assert!(!DigestAlgorithm::Size.is_well_formed("-1"));
        assert!(!DigestAlgorithm::Size.is_well_formed(""));
    }
}
