//! Test support for bagpipe's AWS code, all on 127.0.0.1:
//!
//! - [`moto()`]: a moto server (S3, DynamoDB) started once per test process
//!   and stopped with it, [`aws_env`] to point a subprocess at it, and plain
//!   HTTP helpers to set up and read state ([`create_bucket`],
//!   [`put_object`], [`get_object`], [`list_objects`], [`create_table`],
//!   [`scan_table`], [`dynamodb`]), and [`unique`] names per test;
//! - [`FaultProxy`]: a proxy in front of moto that injects the failures AWS
//!   clients must survive (S3 503/500, a GET cut mid-body, DynamoDB
//!   throttling, `BatchWriteItem` unprocessed items);
//! - [`RuntimeApi`]: a local Lambda Runtime API to drive a Lambda binary's
//!   real `lambda_runtime` loop.
//!
//! moto must be installed: `python3 -m pip install -r tests/requirements.txt`.

mod dynamodb;
mod lambda;
mod moto;
mod proxy;
mod s3;
mod wire;

use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

pub use dynamodb::{create_table, dynamodb, dynamodb_call, scan_table};
pub use lambda::{FUNCTION_ARN, Invocation, Outcome, RuntimeApi};
pub use moto::{MOTO_SCRIPT, Moto, aws_env, moto, unique};
pub use proxy::{Fault, FaultPlan, FaultProxy, Injected};
pub use s3::{
    S3_AUTHORIZATION, create_bucket, get_object, list_objects, list_objects_paged, object_url,
    put_object,
};

/// The HTTP client of the helpers: plain HTTP, error statuses returned as
/// responses, no proxy from the environment, no redirects.
fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into()
    })
}

/// Locks a mutex, ignoring poisoning: a test that panicked holding a lock
/// must not turn every later use (or a destructor) into a second panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
