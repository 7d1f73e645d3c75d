//! Token verification and policy checks (mcp-authz): a cache hit of
//! `CachedVerifier` vs a full local RS256 / ES256 verification by `JwtVerifier` (signature,
//! claims, entitlement mapping) vs a policy decision (`StaticPolicy`, `FnPolicy`). The baseline
//! is `block_on` of a ready future, the harness cost every verification pays here. Ends with a
//! table of ratios of criterion's mean estimates from the same run.
#![allow(missing_docs)]

use mcp_patterns_benches::estimates::mean_ns;
use std::hint::black_box;

use criterion::Criterion;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_authz::{
    AccessRequest, Action, CachedVerifier, Decision, FnPolicy, JwtVerifier, KeySet, Policy,
    Requirement, StaticPolicy, TargetKind, TokenVerifier, VerificationKey,
};

// Keys generated for this benchmark only; they protect nothing.
const RSA_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCjeMQPVpowKaZr\nNviNZHaPsGFcRN73iEnB2t+i2ozuJPDsSXqpA962P7FvB1ZbCJmVT9SXdNqygzME\nDD/zkASq9OdMWB/+ipfdCEGULH7qB27tt6TpfSJMLihQuuf6S7fDHm1soxegkley\nU430KHav0YQK2ITVQ0roC2rAsuLnOqnD3UKM9ateU53k1vNcZBlPzntSuFmQFwnu\ntcqDKmz2aSlXgZvetALA16Am/Wu1E7EOZvks5CXp+lxsZDPBo8Veev308ioQryTQ\ncQ2rODWf7ZsIbbVPMTFd8ZyNxe5nxAPegrN5vwUJ8JYyVUIKPXYojemSV6Rr1ZS3\n1BLCP0ShAgMBAAECggEAAyhkqVXF9EOuCcdfK1GMjq456j5bFtm5UDB9gOaIgduW\niGpLX2882WUfH67q9KbEpec2cHTMRPX5eZTQPzDp8ytjD1pVh2KXXYiLW5dgCKlV\n48C4I6nETJJjcAWf8FmvjNTg6PVjUg7uTl+/HS9d1WaBDsnTvTrPxuOHZ33+ebhE\nVV5g//c/1MNsdzPMBCj4kE9DMSQ5b/AMRFLFtHd3VHcL8lq6eEk/HWR5PryQmxT2\n0WnOi+OLsNqP0o37nU20Ykn2m5uvGYB3Vqt8cyrTA1TLDRPapWGMiWCY5G9bGesa\nUklR4bG4J4dcuqTGWjsI7x+dh50xeZuxYRjAzKpqkQKBgQDOK2HdsS/l3IrTeGfd\nT0Fr3hqFByyZvzc8uv7D6IbXrJP53rrEwj26BQS389JVpeEh+MFwVdLD2PIOJFBZ\ncUqCDLS6iUf4i5rb3uY2cDw+Gc++tquzm2iwhPutgUKeNTEWm3d9OzoHdIzyXBmB\ns6QwJQ0q2Sj2+vHDElM9KrlLcQKBgQDK+3yLnkc9FcigXv4VcvuYqiKSyWzAmKHI\nAzjFP6u75EYuuIkzQmJYBfsg4PFx0658hbypn2CAHJEMK+7lwtoCwD6GvmRMfISk\nuL0QEF3kFpaBdD32HJNO06rnYRb5NNzDO2PZZSsh49QUEKOZEuI5E+suI7vqRI7o\nc2yO2ZMUMQKBgAjPv9oKxaJMX76UCdRim8gxcO64lMZpbsHwuAzFdmXnYVevlkns\nh1jY+A+ooxe4BDxAdnwHnv9x2T6TfL+l4OpYAq1qSqIrzU2SZEJ1X43D6qYbBpGh\nlcLdnCgZOzCp01RFBsFac6t35sJA/3IUrHLGUp6/M0oDBawxr08Q8WRxAoGBAIcg\nG60mVO5JTiHUmvjUbsEWoaVuCcO82BY6btSAqmaOdFot5sgE7UsD0EX2+UR5UrL6\npLmWq7sdSUH9DTBPIqqqJ/WzUTnJutOdV98VxitNDixnocfxBe934VHexFhp5Hzj\nUHksbCZHcKta2E3S0F6G8AzrJPGzah88l4wRM2RBAoGBAJD8eFsyt5Ih2snzqGCa\nV3OEkm3w0wN4b2bB8/rdirdVGkQ1rz2MPLjms1vxzKZwWFVy5loybPMpPXIz5Uv3\nioUbyK5AWdtwNQN6x2/3Zc2TNK2oHPAgujOizJeA75qc2PcDhPGF/BGA+jeTBdQY\nGd8kFqt3zksFneo+3EidkEjl\n-----END PRIVATE KEY-----";
const RSA_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAo3jED1aaMCmmazb4jWR2\nj7BhXETe94hJwdrfotqM7iTw7El6qQPetj+xbwdWWwiZlU/Ul3TasoMzBAw/85AE\nqvTnTFgf/oqX3QhBlCx+6gdu7bek6X0iTC4oULrn+ku3wx5tbKMXoJJXslON9Ch2\nr9GECtiE1UNK6AtqwLLi5zqpw91CjPWrXlOd5NbzXGQZT857UrhZkBcJ7rXKgyps\n9mkpV4Gb3rQCwNegJv1rtROxDmb5LOQl6fpcbGQzwaPFXnr99PIqEK8k0HENqzg1\nn+2bCG21TzExXfGcjcXuZ8QD3oKzeb8FCfCWMlVCCj12KI3pkleka9WUt9QSwj9E\noQIDAQAB\n-----END PUBLIC KEY-----";
const EC_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgKzRQoqdgAe0Dx0+e\nHE7ubj8ou06cNRovBtf1FyMWQvyhRANCAATfPz5moDUwVZkLVX4sHoF2JF7c1gvr\ndw3Fkroa2xM1NG/u9NJkq475uLxZOJ1EPXZjR7m7rvIQq9WhLJHmLwbY\n-----END PRIVATE KEY-----";
const EC_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE3z8+ZqA1MFWZC1V+LB6BdiRe3NYL\n63cNxZK6GtsTNTRv7vTSZKuO+bi8WTidRD12Y0e5u67yEKvVoSyR5i8G2A==\n-----END PUBLIC KEY-----";

const ISSUER: &str = "https://idp.bench.invalid";
const AUDIENCE: &str = "urn:mcp-patterns";

fn token(alg: Algorithm, kid: &str, key: &EncodingKey) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "client_id": "app1",
        "scope": "mcp:access firewall:read", "iat": now, "exp": now + 3600,
        "roles": ["developer"], "entitlements": {"applications": {"app-alpha": ["read"]}},
    });
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &claims, key).expect("sign")
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let keys = KeySet::new()
        .with_key(
            Some("rsa"),
            VerificationKey::rsa_pem(RSA_PUBLIC.as_bytes()).expect("rsa"),
        )
        .with_key(
            Some("ec"),
            VerificationKey::ec_pem(EC_PUBLIC.as_bytes()).expect("ec"),
        );
    let jwt = rt
        .block_on(
            JwtVerifier::from_static_keys(keys)
                .issuer(ISSUER)
                .audience(AUDIENCE)
                .build(),
        )
        .expect("verifier");
    let rs256 = token(
        Algorithm::RS256,
        "rsa",
        &EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).expect("rsa key"),
    );
    let es256 = token(
        Algorithm::ES256,
        "ec",
        &EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).expect("ec key"),
    );
    let cached = CachedVerifier::new(jwt.clone());
    rt.block_on(cached.verify(&rs256)).expect("warm the cache");

    let static_policy = StaticPolicy::new()
        .tool(
            "list_firewall_rules",
            Requirement::none().scopes(["firewall:read"]),
        )
        .tool(
            "get_firewall_rule",
            Requirement::none().scopes(["firewall:read"]),
        )
        .tool(
            "reset_firewall",
            Requirement::none()
                .scopes(["firewall:admin"])
                .roles(["admin"]),
        );
    let abac = FnPolicy::new(|req: &AccessRequest<'_>| {
        let app = req.str_argument("app_name").unwrap_or_default();
        Decision::allow_if(req.principal.entitlements.allows(app, "read"), || {
            format!("no read entitlement for application {app}")
        })
    });
    let principal = rt.block_on(jwt.verify(&rs256)).expect("principal");
    let arguments = serde_json::json!({"app_name": "app-alpha"})
        .as_object()
        .cloned()
        .expect("object");

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("authz");
    group.bench_function("baseline_block_on_ready", |b| {
        b.iter(|| rt.block_on(async { black_box(1u8) }));
    });
    group.bench_function("cached_verify", |b| {
        b.iter(|| rt.block_on(cached.verify(black_box(&rs256))).expect("ok"));
    });
    group.bench_function("rs256_full_verify", |b| {
        b.iter(|| rt.block_on(jwt.verify(black_box(&rs256))).expect("ok"));
    });
    group.bench_function("es256_full_verify", |b| {
        b.iter(|| rt.block_on(jwt.verify(black_box(&es256))).expect("ok"));
    });
    group.bench_function("static_policy_check", |b| {
        b.iter(|| {
            static_policy.evaluate(&AccessRequest::new(
                black_box(&principal),
                Action::Invoke,
                TargetKind::Tool,
                black_box("get_firewall_rule"),
            ))
        });
    });
    group.bench_function("abac_policy_check", |b| {
        b.iter(|| {
            abac.evaluate(
                &AccessRequest::new(
                    black_box(&principal),
                    Action::Invoke,
                    TargetKind::Tool,
                    "get_firewall_rule",
                )
                .with_arguments(Some(black_box(&arguments))),
            )
        });
    });
    group.finish();
    c.final_summary();
    report();
}

/// Prints each operation's mean and its ratio to a full RS256 verification.
fn report() {
    let names = [
        "baseline_block_on_ready",
        "cached_verify",
        "rs256_full_verify",
        "es256_full_verify",
        "static_policy_check",
        "abac_policy_check",
    ];
    let means: Vec<Option<f64>> = names.iter().map(|n| mean_ns("authz", n)).collect();
    println!("\nmcp-authz: mean per operation (this run) and ratio to a full RS256 verification");
    let rs = means[2];
    for (name, mean) in names.iter().zip(&means) {
        match (mean, rs) {
            (Some(m), Some(rs)) => {
                println!("  {name:<26} {m:>12.0} ns   {:>10.4}x of RS256", m / rs);
            }
            _ => println!("  {name:<26} (no estimate)"),
        }
    }
}
