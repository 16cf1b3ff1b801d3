//! `/domains/{domain}`: the latest audit as the CLI shows it — findings with explanation, fix
//! and reference; the exchange × address matrix with reverse DNS, SMTP, STARTTLS, TLS, DANE and the
//! certificate per endpoint — the timeline of changes, a diff between two observations, and
//! "check now".

use super::{PageError, PageResult, badge, csrf_field, page as render, refresh_in, when};
use crate::api::changes::ChangeView;
use crate::api::domains::{diff_between, domain_detail, domain_key, request_check};
use crate::state::AppState;
use axum::Form;
use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use mxwatch_core::Report;
use mxwatch_core::checks::endpoint_dane;
use mxwatch_core::observation::smtp::{Connect, Politeness, SmtpProbe, StartTls};
use mxwatch_store::Role;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct DomainQuery {
    from: Option<i64>,
    to: Option<i64>,
    /// Set after "check now": the page refreshes until an observation newer than this time shows.
    checking: Option<i64>,
}

pub async fn page(
    State(state): State<AppState>,
    caller: super::PageCaller<crate::auth::Viewer>,
    Path(domain): Path<String>,
    Query(q): Query<DomainQuery>,
) -> PageResult {
    let detail = domain_detail(&state, &domain).await?;
    let key = detail.summary.domain.clone();
    let report: Option<Report> = detail
        .report
        .clone()
        .and_then(|v| serde_json::from_value(v).ok());
    let history = state.store.observations(&key, 50).await?;
    let timeline: Vec<ChangeView> = state
        .store
        .annotated_changes(0, Some(&key), 200)
        .await?
        .into_iter()
        .map(ChangeView::from)
        .collect();
    let diff = match (q.from, q.to) {
        (Some(from), Some(to)) => Some(diff_between(&state, &key, from, to).await?),
        _ => None,
    };
    let pending = q
        .checking
        .is_some_and(|t| detail.summary.last_check.is_none_or(|last| last < t));
    let body = html! {
        @if pending { (refresh_in(3)) }
        h1 { (key) }
        p { (badge(detail.summary.health.as_deref())) " " (detail.summary.status)
            " · last check " (when(detail.summary.last_check)) " · next " (when(Some(detail.summary.next_check))) }
        p.mx { "MX: " (detail.summary.mx.as_deref().unwrap_or("not determined")) }
        @if let Some(mx) = &detail.expect_mx { p { "Expected MX: " (mx.join(", ")) } }
        @if let Some(p) = &detail.preset { p { "Expected provider: " (p) } }
        @if pending { p.notice role="status" { "Check requested: this page reloads until it is done." } }
        @if caller.role >= Role::Operator {
            form method="post" action={ "/domains/" (key) "/check" } {
                (csrf_field(&caller))
                button type="submit" { "Check now" }
            }
        }
        h2 { "Findings" }
        @match &report {
            None => p { "Not checked yet." },
            Some(r) if r.findings.is_empty() => p { "No findings." },
            Some(r) => {
                ul.findings {
                    @for f in &r.findings {
                        li {
                            (badge(Some(f.severity.as_str()))) " "
                            strong { (f.id.as_str()) } " " (f.title)
                            p.subject { (f.subject) }
                            p { (f.detail) }
                            @if let Some(check) = mxwatch_core::checks::find(f.id.as_str()) {
                                p.explanation { (check.explanation) }
                            }
                            p.fix { strong { "Fix: " } (f.fix) }
                            p.reference { "Reference: " (f.reference) }
                        }
                    }
                }
            }
        }
        @if let Some(r) = &report { (matrix(r)) }
        h2 { "Timeline" }
        (super::changes::table(&caller, &timeline))
        h2 { "Diff between two observations" }
        @if history.len() >= 2 {
            form.diff method="get" action={ "/domains/" (key) } {
                label { "From" select name="from" { @for (i, o) in history.iter().enumerate() {
                    option value=(o.id) selected[q.from == Some(o.id) || (q.from.is_none() && i == 1)] { "#" (o.id) " " (when(Some(o.observed_at))) " " (o.status) }
                } } }
                label { "To" select name="to" { @for (i, o) in history.iter().enumerate() {
                    option value=(o.id) selected[q.to == Some(o.id) || (q.to.is_none() && i == 0)] { "#" (o.id) " " (when(Some(o.observed_at))) " " (o.status) }
                } } }
                button type="submit" { "Compare" }
            }
        } @else { p { "One observation so far." } }
        @if let Some(entries) = &diff {
            @if entries.is_empty() { p { "No difference." } } @else {
                div.scroll { table {
                    thead { tr { th { "Change" } th { "Subject" } th { "Old" } th { "New" } } }
                    tbody { @for e in entries { tr {
                        td { (badge(Some(&e.severity))) " " (e.kind) }
                        td { (e.subject) } td { (e.old.as_deref().unwrap_or("—")) } td { (e.new.as_deref().unwrap_or("—")) }
                    } } }
                } }
            }
        }
    };
    Ok(render(&key, &caller, body))
}

fn connect_text(c: &Connect) -> String {
    match c {
        Connect::Connected { ms } => format!("connected ({ms} ms)"),
        Connect::Refused { .. } => "refused".into(),
        Connect::TimedOut { ms } => format!("timed out ({ms} ms)"),
        Connect::Unreachable { .. } => "unreachable".into(),
        Connect::Failed { detail } => format!("failed: {detail}"),
    }
}

fn starttls_text(s: &StartTls) -> String {
    match s {
        StartTls::NotReached => "not reached".into(),
        StartTls::NotOffered => "not offered".into(),
        StartTls::Refused { reply } => format!("refused ({})", reply.code),
        StartTls::HandshakeFailed { detail, .. } => format!("handshake failed: {detail}"),
        StartTls::Established => "established".into(),
    }
}

fn smtp_cells(probe: Option<&SmtpProbe>, politeness: Option<&Politeness>) -> Markup {
    let Some(p) = probe else {
        return match politeness {
            // Not asked on purpose (the per-address budget): never a failure of the host.
            Some(Politeness::Skipped { reason }) => {
                html! { td colspan="4" { "skipped for politeness: " (reason) } }
            }
            _ => html! { td colspan="4" { "not probed" } },
        };
    };
    let cert = p.certificates.first();
    html! {
        td { (connect_text(&p.connect))
            @if let Some(g) = &p.greeting { br; small.banner { (g.lines.join(" ")) } } }
        td { (starttls_text(&p.starttls)) }
        td { @if let Some(t) = &p.tls { (t.version) " " (t.cipher) } @else { "—" } }
        td { @if let Some(c) = cert {
                (c.subject) br; small { "expires " (when(Some(c.not_after))) }
                @if let Some(v) = &p.verdict { br; small { @if v.trusted { "trusted" } @else { "not trusted" } ", "
                    @if v.name_matches { "name matches" } @else { "name does not match" } } }
            } @else { "—" } }
    }
}

/// The exchange × address matrix: family, reverse DNS, SMTP and DANE per endpoint.
fn matrix(r: &Report) -> Markup {
    html! {
        h2 { "Exchanges and addresses" }
        div.scroll { table.matrix {
            thead { tr { th { "Exchange" } th { "Address" } th { "Family" } th { "Reverse DNS" } th { "SMTP" } th { "STARTTLS" } th { "TLS" } th { "Certificate" } th { "DANE" } } }
            tbody {
                @for x in &r.observation.exchanges {
                    @if x.addresses.is_empty() {
                        tr { td { (x.preferences.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("/")) " " (x.name) } td colspan="8" { "no address" } }
                    }
                    @for a in &x.addresses {
                        tr {
                            td { (x.preferences.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("/")) " " (x.name) }
                            td { (a.ip) }
                            td { @if a.ip.is_ipv4() { "IPv4" } @else { "IPv6" } }
                            td { @match a.ptr.as_ref().and_then(|p| p.value()) {
                                Some(names) => { (names.join(", ")) @match a.forward_confirmed() { Some(true) => " ✓", Some(false) => " (does not resolve back)", None => "" } },
                                None => "—",
                            } }
                            (smtp_cells(a.smtp.as_ref(), a.smtp_politeness.as_ref()))
                            td.dane { (endpoint_dane(&r.observation, &x.name, a.smtp.as_ref())) }
                        }
                    }
                }
            }
        } }
    }
}

pub async fn check(
    State(state): State<AppState>,
    caller: super::PageCaller<crate::auth::Operator>,
    Path(domain): Path<String>,
    Form(form): Form<super::CsrfForm>,
) -> PageResult {
    caller.check_csrf(&form.csrf).map_err(PageError)?;
    let key = domain_key(&domain)?;
    request_check(&state, &caller, &key).await?;
    Ok(super::back(&format!(
        "/domains/{key}?checking={}",
        mxwatch_engine::now_unix()
    )))
}
