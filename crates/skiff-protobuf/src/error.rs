//! Errors of decoding and encoding.

/// Why a protobuf body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body does not start with the Kubernetes protobuf magic.
    #[error("not a Kubernetes protobuf body: it must start with the 4 bytes \"k8s\\0\"")]
    BadMagic,
    /// The data ended inside a field.
    #[error("protobuf data of {message} ends in the middle of a field")]
    Truncated {
        /// The message being read.
        message: &'static str,
    },
    /// A varint longer than 10 bytes.
    #[error("protobuf data of {message} has a malformed varint")]
    InvalidVarint {
        /// The message being read.
        message: &'static str,
    },
    /// Field number 0, or a group / unknown wire type.
    #[error("protobuf data of {message} has an invalid field key (field {field}, wire type {wire_type})")]
    InvalidKey {
        /// The message being read.
        message: &'static str,
        /// The field number.
        field: u64,
        /// The wire type.
        wire_type: u8,
    },
    /// The envelope's typeMeta has no kind.
    #[error("the protobuf envelope names no kind (typeMeta.kind is empty)")]
    MissingKind,
    /// No message is known for the envelope's apiVersion and kind.
    #[error(
        "no protobuf schema for apiVersion {api_version:?}, kind {kind:?}: send it as JSON instead"
    )]
    UnknownKind {
        /// The envelope's apiVersion.
        api_version: String,
        /// The envelope's kind.
        kind: String,
    },
    /// `decode_message` was given a definition the table does not have.
    #[error("no protobuf schema for definition {0:?}")]
    UnknownDefinition(String),
    /// The envelope's contentEncoding is not empty (e.g. gzip).
    #[error("protobuf envelope content encoding {0:?} is not supported")]
    UnsupportedEncoding(String),
    /// A field arrived with a wire type its schema does not allow.
    #[error("field {field:?} of {message} has wire type {found}, expected {expected}")]
    InvalidWireType {
        /// The message being read.
        message: &'static str,
        /// The field's JSON name (or number).
        field: String,
        /// What the schema wants.
        expected: &'static str,
        /// The wire type found.
        found: u8,
    },
    /// A string field is not valid UTF-8.
    #[error("field {field:?} of {message} is not valid UTF-8")]
    InvalidUtf8 {
        /// The message being read.
        message: &'static str,
        /// The field's JSON name.
        field: String,
    },
    /// A value that has no JSON form (time out of range, NaN, bad embedded JSON, ...).
    #[error("invalid {message}: {reason}")]
    InvalidValue {
        /// The message being read.
        message: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Messages nested deeper than the limit.
    #[error("protobuf messages nested deeper than {0} levels")]
    TooDeep(usize),
}

/// Why a JSON value could not be encoded as protobuf.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// No message is known for the value's apiVersion and kind.
    #[error("no protobuf schema for apiVersion {api_version:?}, kind {kind:?}")]
    UnknownKind {
        /// The value's apiVersion.
        api_version: String,
        /// The value's kind.
        kind: String,
    },
    /// `encode_message` was given a definition the table does not have.
    #[error("no protobuf schema for definition {0:?}")]
    UnknownDefinition(String),
    /// A JSON value does not fit its field.
    #[error("{message}.{field}: {reason}")]
    InvalidValue {
        /// The message being written.
        message: &'static str,
        /// The JSON field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Values nested deeper than the limit.
    #[error("JSON nested deeper than {0} levels")]
    TooDeep(usize),
}
