//! XML (to be written)
