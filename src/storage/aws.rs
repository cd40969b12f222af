//! What the AWS back-ends share: one tokio runtime that every S3,
//! DynamoDB and Glue call blocks on (the pipeline above is synchronous, on
//! rayon), one TLS stack (rustls with ring), and the SDK configuration
//! read once from the standard AWS environment (region, credentials,
//! `AWS_ENDPOINT_URL`).

use std::future::Future;
use std::sync::OnceLock;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Attempts per request in the SDK's retry policy (throttling included).
pub const SDK_ATTEMPTS: u32 = 6;

/// The runtime every S3 and DynamoDB call runs on.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        install_crypto();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bagpipe-io")
            .enable_all()
            .build()
            .expect("starting the I/O runtime")
    })
}

/// Runs a future to completion on the I/O runtime, from a plain thread
/// (a rayon worker or the main thread; never from inside the runtime).
pub fn block_on<F: Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

/// Makes ring rustls' process-wide crypto provider (one TLS stack for
/// object_store's reqwest and the AWS SDK; see ../shared/LOCAL_AWS.md).
pub fn install_crypto() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // Err means another provider is already installed: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The AWS SDK configuration, loaded once: the standard environment and
/// credential chain, our TLS stack, and the standard retry policy with
/// [`SDK_ATTEMPTS`] attempts.
pub fn sdk_config() -> &'static aws_config::SdkConfig {
    static CONFIG: OnceLock<aws_config::SdkConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        install_crypto();
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        block_on(
            aws_config::defaults(BehaviorVersion::latest())
                .http_client(http)
                .retry_config(RetryConfig::standard().with_max_attempts(SDK_ATTEMPTS))
                .load(),
        )
    })
}

/// Logs every failed attempt of a DynamoDB or Glue call at `warn`: the
/// SDK retries throttling and server errors with backoff (up to
/// [`SDK_ATTEMPTS`]) but says nothing of it, and a retry that no log shows
/// hides a struggling table. Registered on every SDK client.
#[derive(Debug)]
pub struct LogFailedAttempts;

impl Intercept for LogFailedAttempts {
    fn name(&self) -> &'static str {
        "LogFailedAttempts"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Err(error)) = context.output_or_error() {
            let attempt = cfg.load::<RequestAttempts>().map_or(0, |a| a.attempts());
            let operation = cfg
                .load::<Metadata>()
                .map(|m| format!("{}.{}", m.service(), m.name()))
                .unwrap_or_default();
            tracing::warn!(
                operation,
                attempt,
                max_attempts = SDK_ATTEMPTS,
                %error,
                "AWS call failed; the SDK retries it with backoff while attempts remain"
            );
        }
        Ok(())
    }
}

pub use crate::DEFAULT_LOG_FILTER;
