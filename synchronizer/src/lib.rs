//! Resamples extracted topic tables onto a fixed tick timeline (latest message per topic at each tick).
//!
//! Not implemented yet: see issue 3. The crate exists so the workspace has the layout of the design.
