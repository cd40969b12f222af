//! AWS Lambda entry point for S3 upload events.
//!
//! Not implemented yet: see issue 4. The crate exists so the workspace has the layout of the design.
