//! Kubernetes protobuf decoding (being written).
