//! Opaque page cursors: whatever a listing needs to resume (a DynamoDB key, a sort position),
//! as URL-safe base64 of its JSON. One codec for every paged route, so a cursor a client did
//! not get from the API is refused the same way everywhere.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{DomainError, ErrorKind, FieldError};

/// The cursor was not one this API returned (or was returned for another listing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cursor: is not a cursor this API returned")]
pub struct InvalidCursor;

impl DomainError for InvalidCursor {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Invalid
    }

    fn code(&self) -> &'static str {
        "invalid_field"
    }

    fn fields(&self) -> Vec<FieldError> {
        vec![FieldError::new(
            "cursor",
            "is not a cursor this API returned",
        )]
    }
}

/// Encodes a resume position.
pub fn encode<T: Serialize + ?Sized>(position: &T) -> String {
    // Serialising plain data (strings, numbers, maps of them) to JSON cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).unwrap_or_default())
}

/// Decodes a resume position; anything that is not base64url JSON of `T` is refused.
pub fn decode<T: DeserializeOwned>(cursor: &str) -> Result<T, InvalidCursor> {
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| InvalidCursor)?;
    serde_json::from_slice(&raw).map_err(|_| InvalidCursor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn round_trips_and_refuses_foreign_cursors() {
        let key: BTreeMap<String, String> = [("pk".to_string(), "LOG#x".to_string())].into();
        let c = encode(&key);
        assert_eq!(decode::<BTreeMap<String, String>>(&c).unwrap(), key);
        assert_eq!(
            decode::<BTreeMap<String, String>>("%%%"),
            Err(InvalidCursor)
        );
        assert_eq!(decode::<u64>(&c), Err(InvalidCursor));
    }
}
