//! Bundles: an environment's agents, MCP configs and other files as one
//! gzip'd tar, in the Go original's format (`manifest.json` first, then the
//! files by relative path; `variables.yml` never included), so bundles move
//! between the two implementations both ways.
//!
//! The library API, for the CLI and for anything that ships an environment
//! (e.g. a deployment):
//! - [`Station::create_bundle`] / [`Station::create_bundle_file`] (or
//!   [`write_bundle`] without a database) write one;
//! - [`BundleSource::open`] resolves a file or `https://` URL, then
//!   [`Station::install_bundle`] installs it whole or not at all, and
//!   [`Station::install_bundle_once`] does so once per database;
//! - [`read_manifest`] reads a bundle's manifest without unpacking it, and
//!   [`inspect_bundle`] what its files hold, checked against the manifest.
//!
//! [`Station::create_bundle`]: crate::Station::create_bundle
//! [`Station::create_bundle_file`]: crate::Station::create_bundle_file
//! [`Station::install_bundle`]: crate::Station::install_bundle
//! [`Station::install_bundle_once`]: crate::Station::install_bundle_once

mod contents;
mod create;
mod error;
mod extract;
mod install;
mod manifest;
mod source;
mod verify;

pub use contents::{EnvironmentFiles, VARIABLES_FILES, read_environment};
pub use create::write_bundle;
pub use error::BundleError;
pub use extract::{Limits, RATIO_GRACE_BYTES, read_manifest};
pub use install::{InstallOptions, InstallReport, MissingVariable};
pub use manifest::{
    BundleInfo, MANIFEST_NAME, MANIFEST_VERSION, Manifest, ManifestAgent, ManifestMcpServer,
    ManifestTool, RequiredVariable, required_variables,
};
pub use source::{BundleSource, DOWNLOAD_TIMEOUT};
pub use verify::{ServerCommand, inspect_bundle};
