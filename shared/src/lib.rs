//! The LinkedIn connector's library: the product's domain, its one LinkedIn client, the
//! token vault, the store, configuration, telemetry and HTTP plumbing shared by the functions.

pub mod authorization;
pub mod aws_clients;
mod aws_errors;
pub mod bounded_cache;
pub mod config;
pub mod deadline;
pub mod domain;
pub mod events;
pub mod http;
pub mod linkedin;
pub mod media;
pub mod media_page;
pub mod metrics;
pub mod opengraph;
pub mod queue;
pub mod schedules;
pub mod store;
pub mod telemetry;
pub mod tokens;
pub mod vault;
pub mod views;
pub mod webhooks;
