//! Test harness (placeholder)
