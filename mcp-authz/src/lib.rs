#![doc = include_str!("../README.md")]

mod error;
mod principal;
mod verifier;

pub use error::AuthError;
pub use principal::Principal;
pub use verifier::TokenVerifier;
