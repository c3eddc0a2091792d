//! The UI's pages, one module per kind of thing, as the API's routes are.

pub mod agents;
pub mod data;
pub mod environments;
pub mod keys;
pub mod overview;
pub mod runs;
