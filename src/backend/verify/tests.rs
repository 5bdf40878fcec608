//! Broken plans fed to the verifier.
