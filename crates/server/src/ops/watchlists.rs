//! CreateWatchlist, DescribeWatchlist, UpdateWatchlist, DeleteWatchlist, ListWatchlists.

use serde_json::Value;
use voiceprint_voiceid::VoiceIdService as S;

use super::call;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) const OPS: &[&str] = &[
    "CreateWatchlist",
    "DescribeWatchlist",
    "UpdateWatchlist",
    "DeleteWatchlist",
    "ListWatchlists",
];

pub(super) async fn dispatch(
    state: &AppState,
    op: &str,
    input: Value,
) -> Option<Result<String, ApiError>> {
    Some(match op {
        "CreateWatchlist" => call(state, input, S::create_watchlist).await,
        "DescribeWatchlist" => call(state, input, S::describe_watchlist).await,
        "UpdateWatchlist" => call(state, input, S::update_watchlist).await,
        "DeleteWatchlist" => call(state, input, S::delete_watchlist).await,
        "ListWatchlists" => call(state, input, S::list_watchlists).await,
        _ => return None,
    })
}
