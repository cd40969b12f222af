//! Assigns detected objects to lanes and finds person-in-lane scenes.
//!
//! Not implemented yet: see issue 3. The crate exists so the workspace has the layout of the design.
