//! The part shared by the hashing layouts (0003, 0004, 0012): checking `digestAlgorithm`,
//! `tupleSize` and `numberOfTuples`, and cutting a hex digest into tuples.

use super::LayoutError;
use crate::digest::DigestAlgorithm;

/// The largest `tupleSize` and `numberOfTuples` the extension documents allow.
pub(crate) const MAX_TUPLE_PARAMETER: usize = 32;

/// Checks the digest and tuple parameters as extensions 0003, 0004 and 0012 define them,
/// and returns the length in hex characters of the algorithm's digests.
pub(crate) fn check(
    extension: &str,
    algorithm: DigestAlgorithm,
    tuple_size: usize,
    number_of_tuples: usize,
) -> Result<usize, LayoutError> {
    let invalid = |reason: String| LayoutError::InvalidConfig {
        extension: extension.to_owned(),
        reason,
    };
    // "MUST be an algorithm that is allowed in the OCFL fixity block" or one defined by a
    // community extension: `size` is not a hash and `blake3` is registered nowhere.
    let hex_len = match algorithm.hex_len() {
        Some(len) if algorithm.is_registered() => len,
        _ => {
            return Err(invalid(format!(
                "digestAlgorithm {:?} is not a registered hash algorithm",
                algorithm.name()
            )));
        }
    };
    if tuple_size > MAX_TUPLE_PARAMETER || number_of_tuples > MAX_TUPLE_PARAMETER {
        return Err(invalid(format!(
            "tupleSize ({tuple_size}) and numberOfTuples ({number_of_tuples}) must be between 0 and {MAX_TUPLE_PARAMETER}"
        )));
    }
    if (tuple_size == 0) != (number_of_tuples == 0) {
        return Err(invalid(format!(
            "tupleSize ({tuple_size}) and numberOfTuples ({number_of_tuples}) must both be 0 when either is"
        )));
    }
    if tuple_size * number_of_tuples > hex_len {
        return Err(invalid(format!(
            "tupleSize * numberOfTuples ({tuple_size} * {number_of_tuples}) exceeds the {hex_len} characters of a {} digest",
            algorithm.name()
        )));
    }
    Ok(hex_len)
}

/// The first `number_of_tuples` tuples of `tuple_size` characters of `digest`, and the
/// unused rest. The parameters must have passed [`check`] for the digest's algorithm; a
/// digest too short for them yields fewer tuples rather than a panic.
pub(crate) fn split(digest: &str, tuple_size: usize, number_of_tuples: usize) -> (Vec<&str>, &str) {
    let mut tuples = Vec::with_capacity(number_of_tuples);
    let mut rest = digest;
    for _ in 0..number_of_tuples {
        match (rest.get(..tuple_size), rest.get(tuple_size..)) {
            (Some(tuple), Some(after)) => {
                tuples.push(tuple);
                rest = after;
            }
            _ => break,
        }
    }
    (tuples, rest)
}
