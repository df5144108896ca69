//! The shared secret in the webhook's path: Glase's notifications are unsigned, so the URL
//! given to Glase (`…/notifications/{token}`) is what tells them from anyone else's POST.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What the webhook compares a presented token with.
#[derive(Clone)]
pub enum WebhookToken {
    /// The token itself (`WEBHOOK_TOKEN`): local runs.
    Plain(SecretString),
    /// Only its SHA-256 (`WEBHOOK_TOKEN_SHA256`): deployed stacks, so that reading the
    /// function's configuration reveals nothing that opens the endpoint.
    Sha256([u8; 32]),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookTokenError {
    #[error("must be 64 hexadecimal digits (the SHA-256 of the token)")]
    BadDigest,
    #[error(
        "must be at least 16 characters of letters, digits, '-' or '_' (it is a URL path segment)"
    )]
    BadToken,
}

impl WebhookToken {
    pub fn plain(token: &str) -> Result<Self, WebhookTokenError> {
        let ok = token.len() >= 16
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(WebhookTokenError::BadToken);
        }
        Ok(Self::Plain(SecretString::from(token.to_owned())))
    }

    pub fn sha256_hex(digest: &str) -> Result<Self, WebhookTokenError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(digest.to_ascii_lowercase(), &mut out)
            .map_err(|_| WebhookTokenError::BadDigest)?;
        Ok(Self::Sha256(out))
    }

    /// Constant-time comparison with the token presented in the path.
    pub fn matches(&self, presented: &str) -> bool {
        match self {
            Self::Plain(expected) => expected
                .expose_secret()
                .as_bytes()
                .ct_eq(presented.as_bytes())
                .into(),
            Self::Sha256(expected) => {
                let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
                expected.ct_eq(&digest).into()
            }
        }
    }
}

impl fmt::Debug for WebhookToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookToken([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "s3cret-token-for-tests";

    #[test]
    fn a_plain_token_matches_only_itself() {
        let t = WebhookToken::plain(TOKEN).unwrap();
        assert!(t.matches(TOKEN));
        assert!(!t.matches("s3cret-token-for-test"));
        assert!(!t.matches(""));
    }

    #[test]
    fn a_digest_matches_the_token_it_was_made_from() {
        let digest = hex::encode(Sha256::digest(TOKEN.as_bytes()));
        let t = WebhookToken::sha256_hex(&digest).unwrap();
        assert!(t.matches(TOKEN));
        assert!(!t.matches(&digest));
        assert!(WebhookToken::sha256_hex(&digest.to_uppercase())
            .unwrap()
            .matches(TOKEN));
    }

    #[test]
    fn refuses_malformed_tokens_and_digests() {
        assert_eq!(
            WebhookToken::plain("short").unwrap_err(),
            WebhookTokenError::BadToken
        );
        assert_eq!(
            WebhookToken::plain("has/a/slash/in/it/0123").unwrap_err(),
            WebhookTokenError::BadToken
        );
        assert_eq!(
            WebhookToken::sha256_hex("abc").unwrap_err(),
            WebhookTokenError::BadDigest
        );
    }

    #[test]
    fn debug_never_shows_the_token() {
        let t = WebhookToken::plain(TOKEN).unwrap();
        assert!(!format!("{t:?}").contains(TOKEN));
    }
}
