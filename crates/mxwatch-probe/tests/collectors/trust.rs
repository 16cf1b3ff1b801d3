//! The certificate verdict judges trust apart from dates, but never calls a
//! chain trusted that is not valid at any one moment.

use mxwatch_probe::smtp::{TrustRoots, parse_certificate};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use time::{Duration, OffsetDateTime};

fn ca(from_days: i64, to_days: i64) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let now = OffsetDateTime::now_utc();
    params.not_before = now + Duration::days(from_days);
    params.not_after = now + Duration::days(to_days);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    from_days: i64,
    to_days: i64,
) -> rustls_pki_types::CertificateDer<'static> {
    let mut params = CertificateParams::new(vec!["mx.example.test".to_string()]).unwrap();
    let now = OffsetDateTime::now_utc();
    params.not_before = now + Duration::days(from_days);
    params.not_after = now + Duration::days(to_days);
    params
        .signed_by(&KeyPair::generate().unwrap(), issuer)
        .unwrap()
        .der()
        .clone()
}

#[test]
fn an_expired_leaf_under_a_valid_ca_is_trusted_and_expired() {
    let root = ca(-3650, 3650);
    let roots = TrustRoots::from_ders(vec![root.der().clone()]).unwrap();
    let expired = leaf(&root, -90, -30);
    let cert = parse_certificate(&expired).unwrap();
    let verdict = roots.verdict(&[expired], "mx.example.test", &cert);
    assert!(verdict.trusted && verdict.name_matches, "{verdict:?}");
}

#[test]
fn a_chain_never_valid_at_one_moment_is_not_trusted() {
    let root = ca(-3650, 3650);
    // An intermediate that expired long before the leaf was issued.
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1000);
    params.not_after = now - Duration::days(900);
    let intermediate =
        CertifiedIssuer::signed_by(params, KeyPair::generate().unwrap(), &root).unwrap();
    let fresh = leaf(&intermediate, -1, 90);
    let cert = parse_certificate(&fresh).unwrap();
    let roots = TrustRoots::from_ders(vec![root.der().clone()]).unwrap();
    let verdict = roots.verdict(
        &[fresh, intermediate.der().clone()],
        "mx.example.test",
        &cert,
    );
    assert!(!verdict.trusted, "{verdict:?}");
}

#[test]
fn an_unknown_ca_with_bad_dates_is_not_trusted() {
    let unknown = ca(-1000, -900);
    let fresh = leaf(&unknown, -1, 90);
    let cert = parse_certificate(&fresh).unwrap();
    let verdict =
        TrustRoots::from_ders(vec![])
            .unwrap()
            .verdict(&[fresh], "mx.example.test", &cert);
    assert!(!verdict.trusted, "{verdict:?}");
}
