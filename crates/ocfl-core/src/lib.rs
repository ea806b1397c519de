//! Oxford Common File Layout (OCFL 1.0 and 1.1): the pure rules and a small storage seam.
//!
//! - [`inventory`]: inventories, parsed with the specification's error codes and written
//!   deterministically;
//! - [`bagit`]: BagIt (RFC 8493) tag files, for bags in and out of objects;
//! - [`digest`]: content and fixity digest algorithms and a one-pass multi-digester;
//! - [`path`], [`object_id`], [`version_num`], [`namaste`], [`sidecar`]: validated newtypes;
//! - [`layout`]: storage-root layout extensions 0002, 0003, 0004, 0006, 0007 and 0012;
//! - [`validate`]: validation of objects and storage roots, collecting every finding;
//! - [`object`]: reading objects (versions, files, verified bytes, diffs, export) and
//!   purging them;
//! - [`location`]: where a storage root (a local directory or an `s3://` prefix), its
//!   work area and its engine store are;
//! - [`storage`]: the [`Storage`](storage::Storage) trait and its local implementation.
//!
//! ```
//! use ocfl_core::digest::DigestAlgorithm;
//! use ocfl_core::version_num::VersionNum;
//!
//! let v = VersionNum::parse("v0009").unwrap();
//! assert_eq!(v.next().unwrap().to_string(), "v0010");
//! let d = DigestAlgorithm::Sha256.digest_bytes(b"abc");
//! assert!(d.matches("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod bagit;
pub mod digest;
pub mod init;
pub mod inventory;
pub mod layout;
pub mod location;
pub mod namaste;
pub mod object;
pub mod object_id;
pub mod path;
pub mod sidecar;
mod spec_version;
pub mod storage;
pub mod validate;
pub mod version_num;

pub use spec_version::SpecVersion;

/// The README's example, compiled as a doctest so it stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
