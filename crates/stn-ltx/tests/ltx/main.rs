//! Whole-file tests of the public API: agreement with an independent
//! assembler, real Litestream files, property tests, and seeded mutation
//! ("mini-fuzz") tests.

mod common;
mod compat;
mod fixtures;
mod mutations;
mod properties;
