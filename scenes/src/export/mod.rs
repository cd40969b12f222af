//! What a person or a tool opens to see a scene, and the page per bag
//! (`CONTRACT.md`, "Scene exports and the bag report"). Each module turns
//! data the pipeline already has into one file format; none of them reads
//! a bag or the lake:
//!
//! * [`clip`]: an MCAP file of the bag's own messages over a scene's
//!   window (profile `ros1` or `ros2`), built from chunks that several
//!   clips can share.
//! * [`label`]: the scene's ASAM OpenLABEL 1.0.0 document.
//! * [`xosc`]: an ASAM OpenSCENARIO 1.2 replay skeleton of the ego track.
//! * [`frame`]: a camera message made into an image a browser shows.
//! * [`report`]: the self-contained HTML report of a bag, and the index of
//!   every bag's report.

pub mod clip;
pub mod frame;
pub mod label;
pub mod report;
pub mod xosc;
