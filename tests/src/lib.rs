//! The test kit: the LinkedIn simulator and the local stack (moto, provisioning, the local API
//! gateway). The local stack's binary (`devstack`) and the integration tests both use it.

pub mod serve;
pub mod simulator;
pub mod stack;
