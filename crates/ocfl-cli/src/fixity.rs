//! `commit --fixity`: the algorithms a fixity block can be written with.

use ocfl_core::digest::DigestAlgorithm;

/// One `--fixity` value: any algorithm this toolkit computes (the specification's, those
/// of extension 0009, and blake3), by its inventory name.
pub fn parse_algorithm(text: &str) -> Result<DigestAlgorithm, String> {
    DigestAlgorithm::from_name(text.trim()).ok_or_else(|| {
        let names: Vec<&str> = DigestAlgorithm::ALL.iter().map(|a| a.name()).collect();
        format!(
            "unknown digest algorithm {text:?} (one of: {})",
            names.join(", ")
        )
    })
}
