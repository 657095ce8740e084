//! Uploads (issue 7): direct multipart uploads, bulk, presigned S3 uploads with completion,
//! owner checks, the local backend and the hourly limit, against the moto server.
//! Test files are built in code (`support`): no binary fixtures.

mod access;
mod bulk;
mod direct;
mod local;
mod presign;
mod support;
