//! Property-based fuzzing of the token path (issue 8): thousands of random, mangled and forged
//! bearer tokens against a [`JwtVerifier`] with a real ES256 key. The properties:
//!
//! - nothing panics, whatever the input;
//! - a token that is not byte-identical to a validly signed one is refused;
//! - a forged token (any `alg`, `kid`, `jku`/`x5u`/`jwk` header, any claims) signed with anything
//!   but the trusted key is refused;
//! - a validly signed token with hostile claim types is either refused or yields exactly the
//!   signed subject and a future expiry — never someone else;
//! - a validly signed token whose header names critical extensions (`crit`) is refused;
//! - a JWKS that also publishes symmetric (`kty: oct`) keys, or the trusted key again marked for
//!   a non-signature algorithm, never lets an HMAC token signed with such a secret through, even
//!   with HMAC algorithms on the allow-list (key-type confusion).
//!
//! The full server's HTTP path gets 401 for such tokens in the example's `hostile_input` test;
//! this test drives many more cases in-process, where each costs microseconds.
mod common;

use common::{b64, now, raw_token};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_authz::{JwtVerifier, KeySet, TokenVerifier, VerificationKey};
use p256::pkcs8::DecodePublicKey;
use proptest::prelude::*;
use serde_json::{Value, json};

/// The trusted ES256 key pair (a throwaway test key).
const TRUSTED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgqOUxMpxx0mPdRQZY
NJHOB541BOE4j3lvMBoO0/YL8xShRANCAAQgIQyTk5CMEGdXXik+4DZA2WZ1vXfx
5JOPXVno1gMxjkD9HFgqjcW+J/cYm0FU0Ya1Ls2eVI7KO/klmIbdZlcj
-----END PRIVATE KEY-----
";
const TRUSTED_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEICEMk5OQjBBnV14pPuA2QNlmdb13
8eSTj11Z6NYDMY5A/RxYKo3Fvif3GJtBVNGGtS7NnlSOyjv5JZiG3WZXIw==
-----END PUBLIC KEY-----
";
/// Another ES256 key the verifier does not trust.
const OTHER_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgHeAWQdB6pO/5assN
drq1wnvaqvQUszIdjwwtPOuhA0ahRANCAAT4lvfih1DHpY02+vj/5I8UMlOkBNxo
2/5qqC6x9Dp2jedWaLmEFuMKArH5tIYfF8LKlXIj4xetvc5AystxOHCI
-----END PRIVATE KEY-----
";
const KID: &str = "trusted-es256";
const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "https://mcp.test/mcp";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    verifier: JwtVerifier,
    valid: String,
}

impl Fixture {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let verifier = runtime
            .block_on(
                JwtVerifier::from_static_keys(KeySet::new().with_key(
                    Some(KID),
                    VerificationKey::ec_pem(TRUSTED_PUBLIC.as_bytes()).expect("public key"),
                ))
                .issuer(ISSUER)
                .audience(AUDIENCE)
                .algorithms([Algorithm::ES256])
                .build(),
            )
            .expect("verifier");
        let valid = sign(TRUSTED_PRIVATE, &header(KID), &claims("alice"));
        let fixture = Self {
            runtime,
            verifier,
            valid,
        };
        let principal = fixture
            .verify(&fixture.valid)
            .expect("the valid token verifies");
        assert_eq!(principal.subject, "alice");
        fixture
    }

    fn verify(&self, token: &str) -> Result<mcp_authz::Principal, mcp_authz::AuthError> {
        self.runtime.block_on(self.verifier.verify(token))
    }
}

fn header(kid: &str) -> Header {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    header
}

fn claims(sub: &str) -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "scope": "mcp:access firewall:read",
        "iat": now(),
        "exp": now() + 600,
    })
}

fn sign(private_pem: &str, header: &Header, claims: &Value) -> String {
    jsonwebtoken::encode(
        header,
        claims,
        &EncodingKey::from_ec_pem(private_pem.as_bytes()).expect("private key"),
    )
    .expect("token")
}

/// One way of damaging a valid token.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the character at (index mod length) with `ch`.
    Replace(usize, char),
    /// Keep the first (n mod length) characters.
    Truncate(usize),
    /// Insert `text` at (index mod length).
    Insert(usize, String),
    /// Drop segment (i mod 3).
    DropSegment(usize),
    /// Swap two segments.
    SwapSegments(usize, usize),
    /// Append `.text` (a fourth, fifth… segment, JWE-like).
    AppendSegment(String),
    /// Replace segment (i mod 2) — header or claims — with base64url of arbitrary JSON.
    ReplaceJson(usize, Value),
}

fn apply(token: &str, mutation: &Mutation) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.is_empty() {
        return token.to_owned();
    }
    let mut segments: Vec<String> = token.split('.').map(str::to_owned).collect();
    match mutation {
        Mutation::Replace(index, ch) => {
            let mut chars = chars;
            let i = index % chars.len();
            chars[i] = *ch;
            chars.into_iter().collect()
        }
        Mutation::Truncate(n) => chars[..n % chars.len()].iter().collect(),
        Mutation::Insert(index, text) => {
            let i = index % chars.len();
            let mut out: String = chars[..i].iter().collect();
            out.push_str(text);
            out.extend(&chars[i..]);
            out
        }
        Mutation::DropSegment(i) => {
            segments.remove(i % segments.len());
            segments.join(".")
        }
        Mutation::SwapSegments(a, b) => {
            let len = segments.len();
            segments.swap(a % len, b % len);
            segments.join(".")
        }
        Mutation::AppendSegment(text) => format!("{token}.{text}"),
        Mutation::ReplaceJson(i, value) => {
            let i = i % segments.len().min(2);
            segments[i] = b64(value.to_string().as_bytes());
            segments.join(".")
        }
    }
}

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let b64ish = "[A-Za-z0-9_=+/\\-\\.]{0,64}";
    prop_oneof![
        (any::<usize>(), any::<char>()).prop_map(|(i, c)| Mutation::Replace(i, c)),
        (
            any::<usize>(),
            prop::sample::select(vec!['A', 'a', '0', '_', '-', '=', '.', ' '])
        )
            .prop_map(|(i, c)| Mutation::Replace(i, c)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), ".{1,16}").prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<usize>(), b64ish).prop_map(|(i, t)| Mutation::Insert(i, t)),
        any::<usize>().prop_map(Mutation::DropSegment),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapSegments(a, b)),
        b64ish.prop_map(Mutation::AppendSegment),
        (any::<usize>(), json_value()).prop_map(|(i, v)| Mutation::ReplaceJson(i, v)),
    ]
}

/// A forged header: any algorithm name (including `none` and wrong-case spellings), any or no
/// `kid` (including the trusted one), and key-injection headers.
fn forged_header() -> impl Strategy<Value = Value> {
    let alg = prop::sample::select(vec![
        "none", "None", "NONE", "", "HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "es256",
        "ES384", "ES512", "EdDSA",
    ]);
    let kid = prop_oneof![
        Just(None),
        Just(Some(KID.to_owned())),
        ".{0,24}".prop_map(Some),
        Just(Some("../../etc/passwd".to_owned())),
    ];
    let injection = prop::sample::select(vec![
        json!({}),
        json!({"jku": "http://127.0.0.1:9/jwks.json"}),
        json!({"x5u": "http://127.0.0.1:9/cert.pem"}),
        json!({"jwk": {"kty": "oct", "k": "c2VjcmV0"}}),
        json!({"crit": ["exp"]}),
        json!({"typ": "at+jwt", "cty": "JWT"}),
    ]);
    (alg, kid, injection).prop_map(|(alg, kid, injection)| {
        let mut header = json!({"alg": alg, "typ": "JWT"});
        if let Some(kid) = kid {
            header["kid"] = Value::from(kid);
        }
        if let (Some(h), Some(extra)) = (header.as_object_mut(), injection.as_object()) {
            h.extend(extra.clone());
        }
        header
    })
}

/// How a forged token is "signed": never with the trusted private key.
#[derive(Debug, Clone)]
enum ForgedSignature {
    Empty,
    Random(Vec<u8>),
    /// HMAC-SHA256 keyed with the trusted public key's PEM (algorithm confusion).
    HmacWithPublicKey,
    /// A real ES256 signature by a key the verifier does not trust.
    OtherKey,
}

fn forged_signature() -> impl Strategy<Value = ForgedSignature> {
    prop_oneof![
        Just(ForgedSignature::Empty),
        prop::collection::vec(any::<u8>(), 0..96).prop_map(ForgedSignature::Random),
        Just(ForgedSignature::HmacWithPublicKey),
        Just(ForgedSignature::OtherKey),
    ]
}

fn forge(header: &Value, claims: &Value, signature: &ForgedSignature) -> String {
    match signature {
        ForgedSignature::Empty => raw_token(header, claims, b""),
        ForgedSignature::Random(bytes) => raw_token(header, claims, bytes),
        ForgedSignature::HmacWithPublicKey => {
            let mut h = Header::new(Algorithm::HS256);
            h.kid = header["kid"].as_str().map(str::to_owned);
            jsonwebtoken::encode(
                &h,
                claims,
                &EncodingKey::from_secret(TRUSTED_PUBLIC.as_bytes()),
            )
            .expect("HS256 token")
        }
        ForgedSignature::OtherKey => {
            let kid = header["kid"].as_str().unwrap_or(KID);
            sign(OTHER_PRIVATE, &self::header(kid), claims)
        }
    }
}

/// Claims with hostile types and values around the ones the verifier reads.
fn hostile_claims() -> impl Strategy<Value = Value> {
    let exp = prop_oneof![
        Just(Value::from(now() + 600)),
        Just(Value::from(now() - 600)),
        Just(Value::from(i64::MAX)),
        Just(Value::from(u64::MAX)),
        Just(Value::from(-1)),
        Just(Value::from(1e300)),
        Just(Value::from("9999999999")),
        Just(Value::Null),
        json_value(),
    ];
    let sub = prop_oneof![
        Just(Value::from("alice")),
        Just(Value::from("")),
        Just(Value::from("a".repeat(10_000))),
        Just(Value::from("alice\u{0000}admin")),
        json_value(),
    ];
    let scope = prop_oneof![
        Just(Value::from("mcp:access")),
        Just(json!(["mcp:access", {"role": "admin"}])),
        json_value(),
    ];
    let aud = prop_oneof![
        Just(Value::from(AUDIENCE)),
        Just(json!([AUDIENCE, "other"])),
        Just(json!(["other"])),
        json_value(),
    ];
    (exp, sub, scope, aud, json_value()).prop_map(|(exp, sub, scope, aud, extra)| {
        json!({
            "iss": ISSUER,
            "aud": aud,
            "sub": sub,
            "scope": scope,
            "exp": exp,
            "roles": extra,
            "nbf": now() - 10,
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn arbitrary_strings_are_refused(token in prop_oneof![".{0,300}", "[A-Za-z0-9_\\-\\.]{0,600}"]) {
        let fixture = fixture();
        prop_assert!(fixture.verify(&token).is_err(), "accepted {token:?}");
    }

    #[test]
    fn mangled_tokens_are_refused(mutations in prop::collection::vec(mutation(), 1..4)) {
        let fixture = fixture();
        let token = mutations.iter().fold(fixture.valid.clone(), |t, m| apply(&t, m));
        if token != fixture.valid {
            prop_assert!(fixture.verify(&token).is_err(), "accepted {token:?} after {mutations:?}");
        }
    }

    #[test]
    fn forged_tokens_are_refused(
        header in forged_header(),
        claims_patch in json_value(),
        signature in forged_signature(),
    ) {
        let fixture = fixture();
        let mut claims = claims("admin");
        if let (Some(c), Some(patch)) = (claims.as_object_mut(), claims_patch.as_object()) {
            c.extend(patch.clone());
        }
        let token = forge(&header, &claims, &signature);
        prop_assert!(
            fixture.verify(&token).is_err(),
            "accepted a forged token: header {header}, signature {signature:?}"
        );
    }

    #[test]
    fn hostile_claims_never_yield_another_identity(claims in hostile_claims()) {
        let fixture = fixture();
        let token = sign(TRUSTED_PRIVATE, &header(KID), &claims);
        if let Ok(principal) = fixture.verify(&token) {
            prop_assert_eq!(Some(principal.subject.as_str()), claims["sub"].as_str());
            prop_assert!(!principal.subject.is_empty());
            prop_assert!(!principal.is_expired(), "accepted an expired token: {claims}");
        }
    }
}

/// Signs `claims` with the trusted key under an arbitrary JSON header.
fn sign_raw(header: &Value, claims: &Value) -> String {
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let key = EncodingKey::from_ec_pem(TRUSTED_PRIVATE.as_bytes()).expect("private key");
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::ES256).expect("sign");
    format!("{message}.{signature}")
}

/// A published JWKS with the trusted key plus `secrets.len()` symmetric keys and, optionally,
/// the trusted key again under another kid for a key-agreement algorithm.
fn confusing_jwks(
    secrets: &[(String, Vec<u8>, Option<&'static str>)],
    enc_alg: Option<&str>,
) -> Value {
    let trusted: Value = {
        // The trusted key's coordinates, as a JWK.
        let public = p256::PublicKey::from_public_key_pem(TRUSTED_PUBLIC).expect("pem");
        let mut jwk = serde_json::to_value(public.to_jwk()).expect("jwk");
        jwk["kid"] = json!(KID);
        jwk["alg"] = json!("ES256");
        jwk
    };
    let mut keys = vec![trusted.clone()];
    for (kid, secret, alg) in secrets {
        let mut oct = json!({ "kty": "oct", "kid": kid, "k": b64(secret) });
        if let Some(alg) = alg {
            oct["alg"] = json!(alg);
        }
        keys.push(oct);
    }
    if let Some(alg) = enc_alg {
        let mut enc = trusted;
        enc["kid"] = json!("trusted-enc");
        enc["alg"] = json!(alg);
        keys.push(enc);
    }
    json!({ "keys": keys })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn critical_header_extensions_are_refused(
        names in prop::collection::vec("[a-zA-Z0-9:._-]{0,24}", 0..4),
        typ in prop_oneof![Just(None), Just(Some("JWT")), Just(Some("at+jwt"))],
    ) {
        let fixture = fixture();
        let mut header = json!({ "alg": "ES256", "kid": KID, "crit": names });
        if let Some(typ) = typ {
            header["typ"] = json!(typ);
        }
        for name in &names {
            header[name.as_str()] = json!(true);
        }
        let token = sign_raw(&header, &claims("alice"));
        prop_assert!(fixture.verify(&token).is_err(), "accepted crit {names:?}");
    }

    #[test]
    fn published_symmetric_or_encryption_keys_never_verify_hmac_tokens(
        secrets in prop::collection::vec(
            (
                "[a-z0-9-]{1,12}",
                prop::collection::vec(any::<u8>(), 1..64),
                prop_oneof![Just(None), Just(Some("HS256")), Just(Some("HS512")), Just(Some("A128KW"))],
            ),
            1..4,
        ),
        enc_alg in prop_oneof![Just(None), Just(Some("ECDH-ES")), Just(Some("RSA-OAEP"))],
        use_kid in any::<bool>(),
        pick in any::<prop::sample::Index>(),
    ) {
        let fixture = fixture();
        let doc = confusing_jwks(&secrets, enc_alg);
        // Duplicate kids among the generated keys: refused as a whole, which is also safe.
        let Ok(keys) = KeySet::from_jwks_json(&doc) else {
            return Ok(());
        };
        let verifier = fixture.runtime.block_on(
            JwtVerifier::from_static_keys(keys)
                .issuer(ISSUER)
                .audience(AUDIENCE)
                .algorithms([Algorithm::ES256, Algorithm::HS256, Algorithm::HS384, Algorithm::HS512])
                .build(),
        ).expect("verifier");
        let (kid, secret, _) = &secrets[pick.index(secrets.len())];
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let mut header = Header::new(alg);
            header.kid = use_kid.then(|| kid.clone());
            let forged = jsonwebtoken::encode(&header, &claims("admin"), &EncodingKey::from_secret(secret))
                .expect("token");
            prop_assert!(
                fixture.runtime.block_on(verifier.verify(&forged)).is_err(),
                "an HMAC token signed with a published secret was accepted ({alg:?}, kid {kid})"
            );
        }
        // The genuine key still works from the same document.
        let genuine = sign(TRUSTED_PRIVATE, &header(KID), &claims("alice"));
        prop_assert_eq!(
            fixture.runtime.block_on(verifier.verify(&genuine)).map(|p| p.subject.clone()).ok(),
            Some("alice".to_owned())
        );
    }
}

/// Cases per property: 256 by default (CI), `MCP_FUZZ_CASES` for a longer run.
fn cases() -> u32 {
    std::env::var("MCP_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// One verifier for every case of a test thread (building one per case is needless work).
fn fixture() -> &'static Fixture {
    thread_local! {
        static FIXTURE: &'static Fixture = Box::leak(Box::new(Fixture::new()));
    }
    FIXTURE.with(|f| *f)
}

#[test]
fn the_fixture_token_is_valid_and_a_one_character_change_is_not() {
    let fixture = fixture();
    assert_eq!(
        fixture.verify(&fixture.valid).expect("valid").subject,
        "alice"
    );
    let (head, sig) = fixture.valid.rsplit_once('.').expect("three segments");
    let flipped = if sig.starts_with('A') { 'B' } else { 'A' };
    let damaged = format!("{head}.{flipped}{}", &sig[1..]);
    assert!(fixture.verify(&damaged).is_err());
}
