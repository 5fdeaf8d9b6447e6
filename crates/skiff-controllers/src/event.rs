//! Kubernetes Events a plan asks its driver to record, with upstream reasons and messages.

/// Upstream's two event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// `Normal`
    Normal,
    /// `Warning`
    Warning,
}

impl EventType {
    /// The wire value of `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// One event about the object being reconciled (the driver fills in the involved object,
/// source component and timestamps).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Normal or Warning.
    pub type_: EventType,
    /// Upstream's reason, e.g. `ScalingReplicaSet`.
    pub reason: String,
    /// Upstream's message, e.g. `Scaled up replica set web-5d8f to 3`.
    pub message: String,
}

impl Event {
    /// A `Normal` event.
    pub fn normal(reason: &str, message: impl Into<String>) -> Self {
        Self {
            type_: EventType::Normal,
            reason: reason.to_string(),
            message: message.into(),
        }
    }

    /// A `Warning` event.
    pub fn warning(reason: &str, message: impl Into<String>) -> Self {
        Self {
            type_: EventType::Warning,
            reason: reason.to_string(),
            message: message.into(),
        }
    }
}
