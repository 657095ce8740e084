//! Fault-injection scenarios of issue 13, one module per area.
//! Run through `make test` (moto server environment exported).

mod webhooks;
