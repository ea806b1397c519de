//! OCFL storage roots on S3 and S3-compatible object stores.
//!
//! [`ObjectStorage`] is a storage root at `s3://BUCKET/PREFIX`: every key it touches is below
//! the prefix, and storage paths that could name anything else are refused. It is built on the
//! [`object_store`] crate (retries with backoff, multipart uploads, conditional writes) and
//! offers a blocking API, because `ocfl-core`'s storage seam is synchronous: requests run on a
//! tokio runtime the store owns (or the embedder's) and callers wait for their results.
//!
//! What the commit protocol needs beyond reading and writing: conditional writes
//! ([`ObjectStorage::put_if_absent`], [`ObjectStorage::put_if_match`] with the
//! [`ETag`] of what was read), streamed multipart uploads ([`ObjectStorage::create`]) and
//! server-side copies. `docs/durability.md` (section 11) is the protocol.
//!
//! Configuration follows the AWS tools: see [`S3Builder`].
//!
//! ```no_run
//! use ocfl_core::location::S3Location;
//! use ocfl_object_store::S3Builder;
//!
//! let storage = S3Builder::new(S3Location::new("my-bucket", "ocfl/root")?).build()?;
//! let declaration = storage.read("0=ocfl_1.1")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod budget;
mod config;
mod counting;
mod directory;
mod error;
#[cfg(feature = "testing")]
pub mod faults;
mod location;
mod profile;
mod read;
mod runtime;
mod storage;
mod store;
mod write;

pub use config::{MIN_PART_SIZE, S3Builder, UPLOAD_MEMORY_VAR};
pub use error::Error;
pub use read::ObjectReader;
pub use store::{Condition, ETag, KeyInfo, ObjectStorage};
pub use write::Upload;
