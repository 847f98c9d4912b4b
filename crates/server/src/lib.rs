//! voiceprint-server (in progress).
