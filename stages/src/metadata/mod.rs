//! Metadata extraction (tier 2): EXIF and generation parameters, plus the
//! writers that put such metadata into image files.

pub mod embed;
