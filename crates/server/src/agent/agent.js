// Voice ID agent panel: renders the server's `state` events (Server-Sent Events,
// no polling) and runs the agent actions. The session and token come from this
// page's own URL; nothing is stored in the browser.
"use strict";

(function () {
  const params = new URLSearchParams(window.location.search);
  const session = params.get("session") || "";
  const token = params.get("token") || "";
  const query = "session=" + encodeURIComponent(session) + "&token=" + encodeURIComponent(token);
  const $ = (id) => document.getElementById(id);

  const OUTCOME_TEXT = {
    Authenticated: "Authenticated",
    NotAuthenticated: "Not authenticated",
    Inconclusive: "Inconclusive",
    NotEnrolled: "Not enrolled",
    OptedOut: "Opted out",
  };
  const OUTCOME_CLASS = {
    Authenticated: "decision-ok",
    NotAuthenticated: "decision-bad",
    Inconclusive: "decision-warn",
    NotEnrolled: "decision-none",
    OptedOut: "decision-none",
  };
  const FRAUD_TEXT = { HighRisk: "High risk", LowRisk: "Low risk", Inconclusive: "Inconclusive", NotEnabled: "not enabled" };
  const ERROR_DECISION_TEXT = {
    SPEAKER_ID_NOT_PROVIDED: "No customer ID set for this call",
    SPEAKER_EXPIRED: "Caller's voiceprint has expired",
  };
  const REASON_TEXT = {
    KNOWN_FRAUDSTER: "Voice matches a known fraudster on the watchlist",
    VOICE_SPOOFING: "Voice may be synthetic or a recording (spoofing)",
  };
  const SPEAKER_STATUS_TEXT = {
    ENROLLED: "enrolled",
    OPTED_OUT: "opted out",
    PENDING: "not enrolled yet",
    EXPIRED: "voiceprint expired",
  };
  const ENROLLMENT_TEXT = {
    NOT_ENOUGH_SPEECH: "Enrollment requested: waiting for enough speech",
    IN_PROGRESS: "Enrollment in progress",
    COMPLETED: "Enrollment completed",
    FAILED: "Enrollment failed",
  };

  let lastState = null;
  let closed = false;

  function secs(x) {
    return (Math.round(x * 10) / 10).toFixed(1);
  }

  function setText(id, text) {
    const el = $(id);
    if (el.textContent !== text) el.textContent = text;
  }

  function meter(id, value, max) {
    const bar = $(id);
    bar.max = max;
    bar.value = Math.min(value, max);
    setText(id + "-text", secs(Math.min(value, max)) + " of " + max + " s");
  }

  function render(s) {
    lastState = s;
    if (s.Error) {
      setText("connection", "Cannot read this call's Voice ID session: " + s.Error);
      $("connection").classList.add("lost");
      return;
    }
    $("connection").classList.remove("lost");
    setText("connection", s.StreamingStatus === "ENDED" ? "Call audio has ended." : "Live: updates as the caller speaks.");

    // Authentication.
    const auth = s.Authentication;
    const el = $("decision");
    let text = "Waiting for the caller to speak";
    let cls = "decision-pending";
    let outcome = "";
    let detail = "";
    if (auth) {
      outcome = auth.Outcome;
      if (auth.Decision === "NOT_ENOUGH_SPEECH" && s.StreamingStatus !== "ENDED" && s.NetSpeechSeconds < s.ResponseTimeSeconds) {
        text = s.NetSpeechSeconds > 0 ? "Listening… not enough speech yet" : "Waiting for the caller to speak";
        cls = "decision-pending";
      } else if (OUTCOME_TEXT[outcome]) {
        text = OUTCOME_TEXT[outcome];
        cls = OUTCOME_CLASS[outcome];
      } else {
        text = ERROR_DECISION_TEXT[auth.Decision] || ("Cannot decide (" + auth.Decision + ")");
        cls = "decision-warn";
      }
      if (auth.Score !== null && auth.Score !== undefined) {
        detail = "Score " + auth.Score + " (needs " + auth.Threshold + " or more)";
      } else if (auth.Decision === "NOT_ENOUGH_SPEECH") {
        detail = "Needs a score of " + auth.Threshold + " or more";
      } else if (outcome === "NotEnrolled") {
        detail = "No voiceprint for this customer ID yet: enroll the caller to authenticate next time.";
      } else if (outcome === "OptedOut") {
        detail = "The caller opted out of voice authentication.";
      }
    }
    setText("decision", text);
    el.className = "decision " + cls;
    el.dataset.outcome = outcome;
    setText("decision-detail", detail);
    meter("auth-progress", s.NetSpeechSeconds, s.ResponseTimeSeconds);

    // Fraud.
    const fraud = s.Fraud;
    const f = $("fraud");
    let ftext = "Not evaluated yet";
    let fcls = "risk-pending";
    const reasons = [];
    if (fraud) {
      if (fraud.Outcome === "HighRisk") { ftext = "High risk"; fcls = "risk-high"; }
      else if (fraud.Outcome === "LowRisk") { ftext = "Low risk"; fcls = "risk-low"; }
      else if (fraud.Outcome === "Inconclusive") { ftext = "Inconclusive: not enough speech yet"; fcls = "risk-pending"; }
      else { ftext = "Cannot assess (" + fraud.Decision + ")"; fcls = "risk-warn"; }
      for (const r of fraud.Reasons || []) reasons.push(REASON_TEXT[r] || r);
      if (fraud.Outcome === "HighRisk" || fraud.Outcome === "LowRisk") {
        const t = fraud.Threshold !== null && fraud.Threshold !== undefined ? " (high at " + fraud.Threshold + ")" : "";
        if (fraud.KnownFraudsterScore !== null && fraud.KnownFraudsterScore !== undefined) {
          reasons.push("Known-fraudster risk " + fraud.KnownFraudsterScore + t);
        }
        if (fraud.VoiceSpoofingScore !== null && fraud.VoiceSpoofingScore !== undefined) {
          reasons.push("Voice-spoofing risk " + fraud.VoiceSpoofingScore + t);
        }
      }
    }
    setText("fraud", ftext);
    f.className = "risk " + fcls;
    f.dataset.outcome = fraud ? fraud.Outcome : "";
    const list = $("fraud-reasons");
    const html = reasons.map((r) => r).join("\n");
    if (list.dataset.items !== html) {
      list.dataset.items = html;
      list.replaceChildren(...reasons.map((r) => { const li = document.createElement("li"); li.textContent = r; return li; }));
    }

    // Enrollment.
    setText("speaker-id", s.SpeakerId || "none set");
    setText("speaker-status", s.SpeakerStatus ? (SPEAKER_STATUS_TEXT[s.SpeakerStatus] || s.SpeakerStatus) : (s.SpeakerId ? "not enrolled" : "status unknown"));
    $("speaker-status").dataset.status = s.SpeakerStatus || "";
    let etext = ENROLLMENT_TEXT[s.EnrollmentStatus] || "No enrollment requested";
    if (s.EnrollmentMessage) etext += ": " + s.EnrollmentMessage;
    setText("enrollment", etext);
    $("enrollment").dataset.status = s.EnrollmentStatus || "";
    meter("enroll-progress", s.NetSpeechSeconds, s.EnrollmentSpeechSeconds);

    setText("session-name", s.SessionName);
    setText("streaming", { PENDING_CONFIGURATION: "waiting for audio", ONGOING: "audio streaming", ENDED: "audio ended" }[s.StreamingStatus] || s.StreamingStatus);
    setText("expires", new Date(s.TokenExpiresAt * 1000).toLocaleTimeString());
    document.body.dataset.ready = "1";
  }

  function setButtons(enabled) {
    for (const b of document.querySelectorAll("button")) b.disabled = !enabled;
  }

  function describe(action, r) {
    const name = { enrollSpeaker: "Enroll", evaluateSpeaker: "Evaluate again", optOutSpeaker: "Opt out", updateSpeakerId: "Update speaker ID", getSpeakerStatus: "Speaker status" }[action] || action;
    if (r.Status === "FAILED") {
      return { error: name + " failed: " + (r.Message || r.ErrorType || "unknown error") + (r.ErrorType ? " [" + r.ErrorType + "]" : "") };
    }
    const parts = [name + " done"];
    if (r.EnrollmentStatus) parts.push("enrollment " + r.EnrollmentStatus.toLowerCase().replace(/_/g, " "));
    if (r.AuthenticationDecision) parts.push("authentication: " + (OUTCOME_TEXT[r.AuthenticationDecision] || r.AuthenticationDecision));
    if (r.FraudDetectionDecision) parts.push("fraud risk: " + (FRAUD_TEXT[r.FraudDetectionDecision] || r.FraudDetectionDecision));
    if (r.SpeakerStatus) parts.push("speaker " + (SPEAKER_STATUS_TEXT[r.SpeakerStatus] || r.SpeakerStatus));
    if (r.ErrorType) parts.push("note: " + (r.Message || r.ErrorType));
    return { ok: parts.join("; ") + "." };
  }

  async function act(action, speakerId) {
    if (closed) return;
    setText("action-result", name(action) + "…");
    setText("action-error", "");
    setButtons(false);
    try {
      const body = { Action: action };
      if (speakerId !== undefined) body.SpeakerId = speakerId;
      const resp = await fetch("/agent/actions?session=" + encodeURIComponent(session), {
        method: "POST",
        headers: { "Content-Type": "application/json", "Authorization": "Bearer " + token },
        body: JSON.stringify(body),
      });
      const r = await resp.json().catch(() => ({}));
      if (!resp.ok) {
        setText("action-result", "");
        setText("action-error", name(action) + " was refused: " + (r.message || r.Message || ("HTTP " + resp.status)));
      } else {
        const d = describe(action, r);
        setText("action-result", d.ok || "");
        setText("action-error", d.error || "");
      }
    } catch (e) {
      setText("action-result", "");
      setText("action-error", name(action) + " could not reach the server: " + e.message);
    } finally {
      if (!closed) setButtons(true);
    }
  }

  function name(action) {
    return { enrollSpeaker: "Enroll", evaluateSpeaker: "Evaluate again", optOutSpeaker: "Opt out", updateSpeakerId: "Update speaker ID" }[action] || action;
  }

  function connect() {
    const es = new EventSource("/agent/events?" + query);
    es.addEventListener("state", (e) => {
      try { render(JSON.parse(e.data)); } catch (err) { setText("connection", "Unreadable update: " + err.message); }
    });
    es.addEventListener("expired", (e) => {
      closed = true;
      es.close();
      setButtons(false);
      setText("connection", e.data || "This link has expired.");
      $("connection").classList.add("lost");
    });
    es.onerror = () => {
      if (closed) return;
      if (es.readyState === EventSource.CLOSED) {
        // The server refused the stream (e.g. the token expired): no retry.
        closed = true;
        setButtons(false);
        setText("connection", "Live updates were refused; ask for a new link.");
      } else {
        setText("connection", "Connection lost; reconnecting…");
      }
      $("connection").classList.add("lost");
    };
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const b of document.querySelectorAll("button[data-action]")) {
      b.addEventListener("click", () => act(b.dataset.action));
    }
    $("speaker-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const v = $("speaker-input").value.trim();
      if (!v) {
        setText("action-error", "Type the caller's customer ID first.");
        $("speaker-input").focus();
        return;
      }
      act("updateSpeakerId", v);
    });
    connect();
  });
})();
