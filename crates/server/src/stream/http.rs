//! `POST /v1/sessions/{DomainId}/{SessionName}/audio`: a whole recording (recorded
//! calls, tests, clients without WebSockets).
//!
//! The body is any format `voiceprint_audio` decodes (WAV, FLAC, MP3), or headerless
//! audio described by the query (`?encoding=mulaw&sample_rate=8000[&channels=2]`).
//! `channel=N` picks the customer channel (default 0). The audio is fed through the
//! same live front end and segmenting as a stream, so results match streaming. The
//! session stays ONGOING for more audio unless `end=true`. The response is the
//! session's EvaluateSession output.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use voiceprint_audio::{DecodeOptions, RawEncoding, RawFormat};
use voiceprint_voiceid::Error as VoiceIdError;

use super::{authenticate, blocking, resolve_session, SessionFeed, StreamState};
use crate::error::{ApiError, AWS_JSON};

#[derive(Debug, Default, Deserialize)]
pub struct PostQuery {
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    sample_rate: Option<u32>,
    #[serde(default)]
    channels: Option<u16>,
    #[serde(default)]
    channel: Option<usize>,
    #[serde(default)]
    end: Option<bool>,
    #[serde(default)]
    speaker_id: Option<String>,
    // The stream token may ride in the query (read by `authenticate`).
    #[serde(default)]
    #[allow(dead_code)]
    token: Option<String>,
}

/// Raw PCM (s16le) bytes and their format for a body: headerless as the query says,
/// or a container decoded here.
fn body_audio(
    body: &[u8],
    q: &PostQuery,
    max_seconds: f64,
) -> Result<(Vec<u8>, RawFormat, usize), VoiceIdError> {
    let channel = q.channel.unwrap_or(0);
    if let Some(encoding) = &q.encoding {
        let encoding = match encoding.as_str() {
            "pcm_s16le" => RawEncoding::PcmS16le,
            "mulaw" => RawEncoding::Mulaw,
            "alaw" => RawEncoding::Alaw,
            other => {
                return Err(VoiceIdError::Validation(format!(
                    "encoding {other:?} is not pcm_s16le, mulaw or alaw"
                )))
            }
        };
        let format = RawFormat {
            encoding,
            sample_rate: q.sample_rate.unwrap_or(8000),
            channels: q.channels.unwrap_or(1),
        };
        return Ok((body.to_vec(), format, channel));
    }
    let decoded = voiceprint_audio::decode_bytes(
        body,
        &DecodeOptions {
            channel_index: channel,
            max_seconds,
            raw: None,
        },
    )
    .map_err(|e| VoiceIdError::Validation(format!("audio: {e}")))?;
    let pcm: Vec<u8> = decoded
        .samples
        .iter()
        .flat_map(|&x| ((x.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes())
        .collect();
    let format = RawFormat {
        encoding: RawEncoding::PcmS16le,
        sample_rate: decoded.sample_rate,
        channels: 1,
    };
    Ok((pcm, format, 0))
}

pub async fn post_recording(
    State(state): State<StreamState>,
    Path((domain_id, session_name)): Path<(String, String)>,
    Query(query): Query<PostQuery>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match post(state, domain_id, session_name, query, &uri, &headers, body).await {
        Ok(json) => (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, AWS_JSON)],
            json,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn post(
    state: StreamState,
    domain_id: String,
    session_name: String,
    query: PostQuery,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<String, ApiError> {
    let auth = authenticate(&state.app, "POST", uri, headers, &body)?;
    super::native::check_path(&domain_id, &session_name).map_err(ApiError::Validation)?;
    let max_seconds = state.hub.limits.max_audio_seconds;
    let service = state.app.service.clone();
    let (d, n, speaker) = (
        domain_id.clone(),
        session_name.clone(),
        query.speaker_id.clone(),
    );
    let session_id =
        blocking(move || resolve_session(&service, &auth, &d, &n, speaker.as_deref())).await?;
    let end = query.end.unwrap_or(false);
    let (pcm, format, channel) = blocking(move || body_audio(&body, &query, max_seconds)).await?;
    let mut feed = SessionFeed::open(&state, domain_id, session_id, format, channel).await?;
    // Feed in 100 ms pieces, as a stream would arrive (same segmenting).
    let piece = (format.sample_rate as usize / 10) * frame_bytes(format);
    for chunk in pcm.chunks(piece.max(1)) {
        feed.push(chunk).await?;
    }
    let update = feed.finish(end).await?;
    let evaluation = update
        .evaluation
        .ok_or_else(|| VoiceIdError::Internal("no evaluation after the recording".into()))?;
    serde_json::to_string(&evaluation)
        .map_err(|e| VoiceIdError::Internal(format!("encoding response: {e}")).into())
}

fn frame_bytes(format: RawFormat) -> usize {
    let width = match format.encoding {
        RawEncoding::PcmS16le => 2,
        RawEncoding::Mulaw | RawEncoding::Alaw => 1,
    };
    width * usize::from(format.channels)
}
