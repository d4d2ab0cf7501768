//! `GET /healthz` (liveness: the process serves requests) and `GET /readyz`
//! (readiness: the store answers and every worker thread is up), without a
//! token, for load balancers and orchestrators.

use super::AppState;
use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde_json::{Value, json};

pub(super) async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub(super) async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = state.store.clone();
    let store_ok = tokio::task::spawn_blocking(move || store.check())
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    let (up, total) = state.workers.alive();
    let workers_ok = up == total && total > 0;
    let ready = store_ok.is_ok() && workers_ok;
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": {
            "store": match &store_ok { Ok(()) => "ok".to_string(), Err(e) => e.clone() },
            "workers": {"up": up, "started": total},
        },
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
