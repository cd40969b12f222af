//! The Lambda's `bootstrap`: the runtime loop of `lambda_runtime`, JSON
//! logs, and the handler run on a blocking thread (the pipeline is
//! synchronous and uses every core).

use bagpipe_lambda::handler::{self, Answer, Settings};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), lambda_runtime::Error> {
    bagpipe::no_huge_pages();
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BAGPIPE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // Read once per cold start (outside any async runtime: reading the
    // configuration from S3 blocks); a bad setting fails every invocation
    // with a message saying which.
    let settings = std::sync::Arc::new(Settings::from_env());
    if let Err(e) = settings.as_ref() {
        tracing::error!(error = %e, "bad settings");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Value>| {
            let settings = settings.clone();
            async move {
                let settings = match settings.as_ref() {
                    Ok(s) => s.clone(),
                    Err(e) => {
                        return Err(Diagnostic {
                            error_type: "bagpipe.Settings".into(),
                            error_message: e.clone(),
                        });
                    }
                };
                let answer =
                    tokio::task::spawn_blocking(move || handler::handle(&settings, &event.payload))
                        .await
                        .map_err(|e| Diagnostic {
                            error_type: "bagpipe.Panic".into(),
                            error_message: e.to_string(),
                        })?;
                match answer {
                    Answer::Done(body) => Ok(body),
                    Answer::Retry(reason) => Err(Diagnostic {
                        error_type: "bagpipe.Retryable".into(),
                        error_message: reason,
                    }),
                    Answer::Fail(reason) => Err(Diagnostic {
                        error_type: "bagpipe.Failed".into(),
                        error_message: reason,
                    }),
                }
            }
        },
    )))
}
