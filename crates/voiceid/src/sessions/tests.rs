//! Unit tests of the session row pieces that need no model: the running embedding
//! and its bytes. Behaviour over real speech is in `crates/server/tests/sessions.rs`.

use super::*;

#[test]
fn the_running_embedding_is_the_speech_weighted_sum_of_unit_vectors() {
    let mut acc = Accumulator::new("campplus", 2);
    acc.add(&[3.0, 0.0], 2.0).unwrap(); // unit [1, 0] × 2 s
    acc.add(&[0.0, -5.0], 1.0).unwrap(); // unit [0, -1] × 1 s
    assert_eq!(acc.sum, vec![2.0, -1.0]);
    assert_eq!(acc.seconds, 3.0);
    // Wrong dimension and zero vectors are refused, not averaged in.
    assert!(acc.add(&[1.0, 2.0, 3.0], 1.0).is_err());
    assert!(acc.add(&[0.0, 0.0], 1.0).is_err());
    assert_eq!(acc.seconds, 3.0);
}

#[test]
fn the_running_embedding_round_trips_and_bad_bytes_are_refused() {
    let mut acc = Accumulator::new("campplus", 3);
    acc.add(&[0.1, 0.2, 0.3], 4.5).unwrap();
    let bytes = acc.to_bytes();
    let back = Accumulator::from_bytes(&bytes).unwrap();
    assert!(back == acc);
    for bad in [
        &bytes[..bytes.len() - 1],
        &bytes[1..],
        b"VPSA".as_slice(),
        [bytes.as_slice(), &[0u8]].concat().as_slice(),
    ] {
        assert!(matches!(
            Accumulator::from_bytes(bad),
            Err(Error::Internal(_))
        ));
    }
}

#[test]
fn voice_chunks_keep_their_own_dimension_through_the_bytes() {
    // Fused running embedding (3-d here), CAM++-only chunks (2-d).
    let mut acc = Accumulator::new("fusion", 3);
    acc.add(&[0.1, 0.2, 0.3], 5.0).unwrap();
    acc.add_chunk(&[1.0, 0.0], 5.0).unwrap();
    acc.add_chunk(&[0.0, 1.0], 5.0).unwrap();
    // A chunk of another dimension is left out, not mixed in.
    acc.add_chunk(&[1.0, 0.0, 0.0], 5.0).unwrap();
    assert_eq!(acc.chunk_embeddings(), vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
    let back = Accumulator::from_bytes(&acc.to_bytes()).unwrap();
    assert!(back == acc);

    // A version-2 row (chunks of the running embedding's dimension) still reads.
    let mut v2 = Accumulator::new("fusion", 2);
    v2.add(&[1.0, 1.0], 5.0).unwrap();
    v2.add_chunk(&[0.5, 0.5], 5.0).unwrap();
    let mut bytes = v2.to_bytes();
    bytes[4] = 2;
    let chunk_dim_at = bytes.len() - (8 + 2 * 4) - 4;
    bytes.drain(chunk_dim_at..chunk_dim_at + 4);
    let old = Accumulator::from_bytes(&bytes).unwrap();
    assert_eq!(old.chunk_embeddings(), vec![vec![0.5, 0.5]]);
    assert!(Accumulator::from_bytes(&bytes[..bytes.len() - 1]).is_err());
}

#[test]
fn session_locks_serialise_one_session_and_spread_others() {
    let a = session_lock("id#aaaaaaaaaaaaaaaaaaaaaa");
    // A different session is not blocked by `a` (unless it hashes to the same stripe).
    let other = (0..100).map(|i| format!("id#{i:022}")).find(|id| {
        SESSION_LOCKS[id.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        }) % SESSION_LOCKS.len()]
        .try_lock()
        .is_ok()
    });
    assert!(other.is_some());
    drop(a);
}

#[test]
fn a_call_is_scored_with_its_net_speech_and_its_stream_s_stnr() {
    let mut acc = Accumulator::new("campplus", 2);
    acc.add(&[1.0, 0.0], 2.5).unwrap();
    let quality = StoredQuality {
        net_speech_seconds: 2.5,
        snr_db: 12.0,
        clipped_fraction: 0.0,
        stnr_db: Some(8.0),
    };
    let c = speech_conditions(&acc, Some(&quality));
    assert_eq!((c.net_speech_seconds, c.stnr_db), (2.5, Some(8.0)));
    // No stream measurement (or one stored before STNR was kept): scored as clean.
    assert_eq!(speech_conditions(&acc, None).stnr_db, None);
    let older: StoredQuality =
        serde_json::from_str(r#"{"net_speech_seconds":2.5,"snr_db":12.0,"clipped_fraction":0.0}"#).unwrap();
    assert_eq!(speech_conditions(&acc, Some(&older)).stnr_db, None);
}
