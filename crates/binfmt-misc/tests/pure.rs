//! Tests of the pure parts (no kernel): validation, encoding, parsing, overlap, and
//! property-based round trips.

#![allow(clippy::unwrap_used)] // Tests may unwrap (helpers included).

mod common;

#[path = "pure/encode.rs"]
mod encode;
#[path = "pure/parse.rs"]
mod parse;
#[path = "pure/props.rs"]
mod props;
#[path = "pure/validate.rs"]
mod validate;
