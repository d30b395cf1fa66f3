//! Integration tests: the functions behind the local gateway, against moto and the LinkedIn
//! simulator. One test binary, so one moto serves every test (each test has its own table).

mod approvals;
mod aws_faults;
mod aws_guarantees;
mod browser;
mod capabilities;
mod connect;
mod content;
mod edits;
mod engagement;
mod events;
mod health;
mod kinds;
mod lifecycle;
mod limits;
mod media;
mod metrics;
mod oauth_binding;
mod openapi;
mod outcomes;
mod publish;
mod redrive;
mod runways;
mod schedule;
mod secrets;
mod security;
mod simulator;
mod support;
mod told;
mod webhooks;
