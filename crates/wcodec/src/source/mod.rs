//! Source checkpoint formats: parsing with full validation, and byte-identical rebuilding.

pub mod safetensors;
