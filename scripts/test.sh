#!/usr/bin/env bash
# The test command of README.md: every unit, property and integration test of the workspace.
# Integration tests start the real `skiff` binary and drive the real kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked --no-fail-fast -- --test-threads="${SKIFF_TEST_THREADS:-4}"
