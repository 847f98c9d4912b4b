//! The legacy torch reader on the real Resemblyzer checkpoint (skips when the
//! weights have not been fetched). Hand-built pickles are unit-tested in the module.

mod common;
use common::ge2e_weights;
use voiceprint_engine::torch_legacy::{load_state_dict, parse_state_dict, TorchLoadError};

#[test]
fn reads_resemblyzer_checkpoint_names_and_shapes() {
    let Some(path) = ge2e_weights() else { return };
    let sd = load_state_dict(&path).expect("load pretrained.pt");
    let expect: &[(&str, &[usize])] = &[
        ("lstm.weight_ih_l0", &[1024, 40]),
        ("lstm.weight_hh_l0", &[1024, 256]),
        ("lstm.bias_ih_l0", &[1024]),
        ("lstm.bias_hh_l0", &[1024]),
        ("lstm.weight_ih_l1", &[1024, 256]),
        ("lstm.weight_hh_l1", &[1024, 256]),
        ("lstm.weight_ih_l2", &[1024, 256]),
        ("lstm.weight_hh_l2", &[1024, 256]),
        ("lstm.bias_hh_l2", &[1024]),
        ("linear.weight", &[256, 256]),
        ("linear.bias", &[256]),
        ("similarity_weight", &[1]),
        ("similarity_bias", &[1]),
    ];
    for (name, shape) in expect {
        let t = sd.get(*name).unwrap_or_else(|| panic!("missing {name}"));
        assert_eq!(t.shape, *shape, "{name}");
        assert_eq!(t.data.len(), t.numel(), "{name}");
        assert!(t.data.iter().all(|x| x.is_finite()), "{name}");
    }
    assert_eq!(sd.len(), 16, "12 LSTM + 2 linear + 2 similarity tensors");
    // The LSTM tensors are views at different offsets into one storage: if
    // offsets were ignored they would all start with the same values.
    let a = &sd["lstm.weight_ih_l0"].data[..8];
    let b = &sd["lstm.weight_hh_l0"].data[..8];
    let c = &sd["lstm.weight_ih_l1"].data[..8];
    assert!(a != b && b != c && a != c);
    // Trained weights, not zeros.
    let energy: f32 = sd["lstm.weight_hh_l2"].data.iter().map(|x| x * x).sum();
    assert!(energy > 1.0, "{energy}");
}

#[test]
fn truncated_real_checkpoint_is_a_typed_error() {
    let Some(path) = ge2e_weights() else { return };
    let bytes = std::fs::read(path).unwrap();
    for cut in [
        0,
        10,
        100,
        137,
        3000,
        5882,
        6667,
        6675,
        bytes.len() / 2,
        bytes.len() - 1,
    ] {
        let err = parse_state_dict(&bytes[..cut]).expect_err("truncated file parsed");
        assert!(
            matches!(
                err,
                TorchLoadError::Truncated(_)
                    | TorchLoadError::Pickle { .. }
                    | TorchLoadError::NotLegacyTorch(_)
            ),
            "cut {cut}: {err}"
        );
    }
}

#[test]
fn missing_file_is_an_io_error() {
    let err = load_state_dict(std::path::Path::new("/nonexistent/pretrained.pt")).unwrap_err();
    assert!(matches!(err, TorchLoadError::Io(_)));
}
