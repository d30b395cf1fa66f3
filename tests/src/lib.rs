//! The test kit: the local stack (moto, provisioning, the local API gateway) around the
//! LinkedIn simulator (its own crate, `linkedin-simulator`). The local stack's binary
//! (`devstack`) and the integration tests both use it.

pub mod stack;
