//! The fault suite: the hub's real adapters against the moto server and wiremock, with faults
//! injected under the AWS SDK (`hub_tests::faults`) and at the providers. Every scenario ends
//! with a `Row::report()` asserting nothing lost, nothing sent twice, no false status; the rows
//! make the matrix in docs/reliability.md (`make reliability`).

mod harness;
mod redrive;
