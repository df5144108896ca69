//! glase-sim: placeholder, being written.
