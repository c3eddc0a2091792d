//! Ed25519 JWTs for sqld (`alg: EdDSA`), signed with the operator's private key.
//!
//! sqld 0.24 honours `id` (the one namespace a token may use; another
//! namespace answers 404) and `a` (`rw`, `ro`): a token limited to one
//! namespace needs no per-namespace key (docs/decisions/0013-deploy.md).

use std::path::Path;

use anyhow::{Context as _, Result};
use base64::Engine as _;
use ed25519_dalek::Signer as _;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::DecodePrivateKey as _;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    ReadOnly,
}

/// Reads an Ed25519 private key in PKCS#8 PEM (`openssl genpkey -algorithm ed25519`).
pub fn load_key(path: &Path) -> Result<SigningKey> {
    let pem = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the JWT key {}", path.display()))?;
    // The parse error says nothing about the key's bytes, so it is safe to show.
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
        anyhow::anyhow!(
            "{} is not an Ed25519 private key in PKCS#8 PEM ({e})\nhint: create one with `openssl genpkey -algorithm ed25519 -out key.pem` and give sqld its public half (`openssl pkey -in key.pem -pubout`)",
            path.display()
        )
    })
}

/// A token for one namespace.
pub fn mint(key: &SigningKey, namespace: &str, access: Access) -> String {
    let a = match access {
        Access::ReadWrite => "rw",
        Access::ReadOnly => "ro",
    };
    let iat = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = serde_json::json!({ "id": namespace, "a": a, "iat": iat });
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"EdDSA","typ":"JWT"}"#);
    let payload = b64.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let signature = b64.encode(key.sign(signing_input.as_bytes()).to_bytes());
    format!("{signing_input}.{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier as _;

    #[test]
    fn token_carries_namespace_and_access_and_verifies() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let token = mint(&key, "team-a", Access::ReadOnly);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["id"], "team-a");
        assert_eq!(claims["a"], "ro");
        let signature =
            ed25519_dalek::Signature::from_slice(&b64.decode(parts[2]).unwrap()).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        key.verifying_key()
            .verify(input.as_bytes(), &signature)
            .unwrap();
    }
}
