//! The conformance suite against the in-memory backend.

skiff_store::conformance_tests!(skiff_store::conformance::MemHarness);
