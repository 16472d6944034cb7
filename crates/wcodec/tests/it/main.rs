//! One integration-test binary for the core (ripgrep's layout): modules by concern.

mod roundtrip;
