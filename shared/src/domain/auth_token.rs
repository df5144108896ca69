//! Glase's per-issuer credential: lower-case hex sha256(issuer_name + issuer_secret).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// The issuer's name as registered with Glase (sent as the `issuer` query parameter).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IssuerName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("issuer name must be non-empty and free of whitespace and control characters")]
pub struct IssuerNameError;

impl IssuerName {
    pub fn parse(s: &str) -> Result<Self, IssuerNameError> {
        if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(IssuerNameError);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IssuerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `X-Auth-Token` value. It grants read access to the issuer's invoices, so it is kept
/// as a secret: `Debug` prints a placeholder and there is no `Display`.
#[derive(Clone)]
pub struct AuthToken(SecretString);

impl AuthToken {
    /// Derives the token once (at cold start) from the issuer name and secret.
    pub fn derive(issuer: &IssuerName, secret: &SecretString) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(issuer.as_str().as_bytes());
        hasher.update(secret.expose_secret().as_bytes());
        Self(SecretString::from(hex::encode(hasher.finalize())))
    }

    /// The header value to send.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Constant-time comparison with a presented header value (the simulator's check).
    #[cfg(any(test, feature = "test-util"))]
    pub fn matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.expose().as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_glase_doc_test_vector() {
        let issuer = IssuerName::parse("abc").unwrap();
        let token = AuthToken::derive(&issuer, &SecretString::from("SECRET_STRING_FOR_ISSUER"));
        assert_eq!(
            token.expose(),
            "1be46a9bb3efac8e7b691c06cb6d7bea43c5522a64a1cbfd5f511e67de6440c0"
        );
        assert!(token.matches("1be46a9bb3efac8e7b691c06cb6d7bea43c5522a64a1cbfd5f511e67de6440c0"));
        assert!(!token.matches("1BE46A9BB3EFAC8E7B691C06CB6D7BEA43C5522A64A1CBFD5F511E67DE6440C0"));
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let token = AuthToken::derive(&IssuerName::parse("abc").unwrap(), &SecretString::from("s"));
        let shown = format!("{token:?}");
        assert!(!shown.contains(token.expose()));
    }

    #[test]
    fn issuer_name_rejects_empty_and_whitespace() {
        assert!(IssuerName::parse("abc").is_ok());
        assert_eq!(IssuerName::parse(""), Err(IssuerNameError));
        assert_eq!(IssuerName::parse("a b"), Err(IssuerNameError));
    }
}
