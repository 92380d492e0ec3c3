//! `GET /metrics`: the engine's metrics in Prometheus' text format
//! (version 0.0.4), so the monitoring people already run can scrape kiln.

use super::App;
use super::api::{ApiError, ApiResult, blocking};
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header;
use axum::response::IntoResponse;
use kiln::engine::Metrics;
use std::fmt::Write;
use std::sync::Arc;

/// A label value with `\`, `"` and newlines escaped as the format says.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

pub(crate) fn render(m: &Metrics, browsable: Option<u64>) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "kiln_jobs_ready",
        "gauge",
        "Jobs waiting to run, by priority and tier.",
    );
    for ((priority, tier), n) in &m.ready_by_priority_tier {
        let _ = writeln!(
            out,
            "kiln_jobs_ready{{priority=\"{}\",tier=\"{}\"}} {n}",
            priority.name(),
            tier.name()
        );
    }
    family(&mut out, "kiln_jobs", "gauge", "Jobs by stage and state.");
    for (stage, states) in &m.by_stage {
        for (state, n) in states {
            let _ = writeln!(
                out,
                "kiln_jobs{{stage=\"{}\",state=\"{}\"}} {n}",
                label(stage),
                state.name()
            );
        }
    }
    for (name, help, value) in [
        (
            "kiln_jobs_running",
            "Jobs running under a lease.",
            m.running,
        ),
        (
            "kiln_jobs_retrying",
            "Jobs waiting for a retry.",
            m.retrying,
        ),
        ("kiln_dead_letters", "Jobs that failed for good.", m.dead),
    ] {
        family(&mut out, name, "gauge", help);
        let _ = writeln!(out, "{name} {value}");
    }
    if let Some(n) = browsable {
        family(
            &mut out,
            "kiln_assets_browsable",
            "gauge",
            "Assets with every tier-1 stage done.",
        );
        let _ = writeln!(out, "kiln_assets_browsable {n}");
    }
    let j = &m.jobs;
    for (name, help, value) in [
        (
            "kiln_jobs_claimed_total",
            "Jobs this process leased.",
            j.claimed,
        ),
        (
            "kiln_jobs_completed_total",
            "Jobs this process completed.",
            j.completed,
        ),
        (
            "kiln_job_retries_total",
            "Transient failures scheduled for a retry.",
            j.retries,
        ),
        (
            "kiln_jobs_dead_total",
            "Jobs this process sent to dead letter.",
            j.dead,
        ),
        (
            "kiln_jobs_stale_total",
            "Results refused because their lease had expired.",
            j.stale,
        ),
        (
            "kiln_commits_total",
            "Group commits this process made.",
            m.commits,
        ),
        (
            "kiln_commit_operations_total",
            "Operations in those commits.",
            m.commit_ops,
        ),
    ] {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {value}");
    }
    for (name, help, value) in [
        (
            "kiln_job_latency_mean_seconds",
            "Mean time from taking a job to its result.",
            j.mean_latency,
        ),
        (
            "kiln_job_latency_max_seconds",
            "Longest time from taking a job to its result.",
            j.max_latency,
        ),
        (
            "kiln_commit_duration_mean_seconds",
            "Mean duration of one group commit.",
            m.mean_commit,
        ),
        (
            "kiln_commit_sync_mean_seconds",
            "Mean time in the database's own commit (writes and fsync).",
            m.mean_sync,
        ),
    ] {
        family(&mut out, name, "gauge", help);
        let _ = writeln!(out, "{name} {}", value.as_secs_f64());
    }
    out
}

pub(crate) async fn prometheus(State(app): State<Arc<App>>) -> ApiResult {
    let metrics = blocking(&app, |k| k.engine().metrics())
        .await?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let browsable = super::api::browsable_count(&app).await;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&metrics, browsable),
    )
        .into_response())
}
