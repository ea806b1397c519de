//! Reading and writing an extension's `config.json`: a JSON object whose `extensionName`
//! names the extension, plus the extension's own parameters.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::LayoutError;

/// The serialized form: `extensionName` first, then the parameters in declaration order,
/// so the bytes written for one configuration never vary.
#[derive(Serialize)]
struct ConfigFile<'a, T: Serialize> {
    #[serde(rename = "extensionName")]
    extension_name: &'a str,
    #[serde(flatten)]
    parameters: &'a T,
}

/// Parses `bytes` as the config of `extension`. `extensionName`, when present, must name
/// `extension`; it may be absent (the extensions README requires writers to include it,
/// but refusing a root whose writer forgot it would help nobody). Unknown keys are
/// ignored, as the 0004 JSON schema allows (`additionalProperties: true`).
pub(crate) fn parse<T: DeserializeOwned>(extension: &str, bytes: &[u8]) -> Result<T, LayoutError> {
    let invalid = |reason: String| LayoutError::InvalidConfig {
        extension: extension.to_owned(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| invalid("config.json is not a JSON object".to_owned()))?;
    match object.get("extensionName") {
        None => {}
        Some(serde_json::Value::String(name)) if name == extension => {}
        Some(other) => {
            return Err(invalid(format!(
                "extensionName is {other}, expected {extension:?}"
            )));
        }
    }
    serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
}

/// The pretty-printed config of `extension` with `parameters`, ending in a newline.
pub(crate) fn to_bytes<T: Serialize>(extension: &str, parameters: &T) -> Vec<u8> {
    let file = ConfigFile {
        extension_name: extension,
        parameters,
    };
    // Serializing plain structs of strings, integers and booleans into memory cannot fail;
    // the fallback keeps library code free of panics all the same.
    let mut bytes = serde_json::to_vec_pretty(&file)
        .unwrap_or_else(|_| format!("{{\"extensionName\": {extension:?}}}").into_bytes());
    bytes.push(b'\n');
    bytes
}

/// Serde adapter writing a digest algorithm as its OCFL name (`sha256`, `blake2b-512`...).
pub(crate) mod digest_name {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::digest::DigestAlgorithm;

    pub(crate) fn serialize<S: Serializer>(
        algorithm: &DigestAlgorithm,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(algorithm.name())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DigestAlgorithm, D::Error> {
        let name = String::deserialize(deserializer)?;
        DigestAlgorithm::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown digestAlgorithm {name:?}")))
    }
}
