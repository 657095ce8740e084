//! One test binary (one link) for all integration tests; a module per capability.
//! Run through `make test`, which starts the moto server and exports its environment.

mod audit;
mod auth_and_problems;
mod credentials;
mod docs;
mod health;
mod iam;
mod idempotency;
mod integration_log;
mod providers;
mod seed_requests;
