//! Field errors (upstream's `field.Error`) and the field-path builder used to name them.

use serde_json::Value;

/// What is wrong with a field; the server renders each kind the way upstream does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// `Required value`
    Required,
    /// `Invalid value: <value>: <detail>`
    Invalid(Value),
    /// `Unsupported value: <value>: supported values: "a", "b"`
    NotSupported(Value, Vec<String>),
    /// `Duplicate value: <value>`
    Duplicate(Value),
    /// `Forbidden: <detail>`
    Forbidden,
    /// `Too long: may not be more than <n> bytes`
    TooLong(usize),
    /// `Too many: <actual>: must have at most <max> items` (actual, max)
    TooMany(usize, usize),
}

/// One invalid field: its path (`spec.replicas`), what is wrong, and upstream's detail text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field path, e.g. `spec.versions[0].name`.
    pub field: String,
    /// What is wrong.
    pub kind: FieldErrorKind,
    /// Upstream's explanation appended to the message (may be empty).
    pub detail: String,
}

impl FieldError {
    /// A missing required field.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(field, FieldErrorKind::Required, detail)
    }
    /// A field whose value is invalid.
    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(field, FieldErrorKind::Invalid(value.into()), detail)
    }
    /// A value outside the supported set.
    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<Value>,
        supported: &[&str],
    ) -> Self {
        let supported = supported.iter().map(|s| s.to_string()).collect();
        Self::new(
            field,
            FieldErrorKind::NotSupported(value.into(), supported),
            "",
        )
    }
    /// A duplicated value.
    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(field, FieldErrorKind::Duplicate(value.into()), "")
    }
    /// A forbidden field or value.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(field, FieldErrorKind::Forbidden, detail)
    }

    fn new(field: impl Into<String>, kind: FieldErrorKind, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind,
            detail: detail.into(),
        }
    }

    /// Upstream's `Error()` text, used where upstream sorts errors by it.
    pub(crate) fn sort_key(&self) -> String {
        let show = |v: &Value| match v {
            Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        let body = match &self.kind {
            FieldErrorKind::Required => "Required value".to_string(),
            FieldErrorKind::Invalid(v) => format!("Invalid value: {}", show(v)),
            FieldErrorKind::NotSupported(v, _) => format!("Unsupported value: {}", show(v)),
            FieldErrorKind::Duplicate(v) => format!("Duplicate value: {}", show(v)),
            FieldErrorKind::Forbidden => "Forbidden".to_string(),
            FieldErrorKind::TooLong(_) => "Too long".to_string(),
            FieldErrorKind::TooMany(..) => "Too many".to_string(),
        };
        format!("{}: {}: {}", self.field, body, self.detail)
    }
}

/// A field path as upstream prints it: `a.b[key][0].c`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Path(String);

impl Path {
    /// A path starting at `name` (empty for no prefix).
    pub(crate) fn new(name: &str) -> Self {
        Path(name.to_string())
    }
    /// `p.name` (just `name` on an empty path).
    pub(crate) fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Path(name.to_string())
        } else {
            Path(format!("{}.{name}", self.0))
        }
    }
    /// `p[key]`.
    pub(crate) fn key(&self, key: &str) -> Self {
        Path(format!("{}[{key}]", self.0))
    }
    /// `p[i]`.
    pub(crate) fn index(&self, i: usize) -> Self {
        Path(format!("{}[{i}]", self.0))
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Path> for String {
    fn from(p: Path) -> String {
        p.0
    }
}

impl From<&Path> for String {
    fn from(p: &Path) -> String {
        p.0.clone()
    }
}
