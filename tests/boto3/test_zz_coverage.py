"""Runs last (file order): checks the suite called every operation of the model
through boto3, so a new operation cannot go untested unnoticed."""


def test_every_operation_was_exercised(voiceid, called_operations):
    model_ops = set(voiceid.meta.service_model.operation_names)
    assert len(model_ops) == 29
    missing = sorted(model_ops - called_operations)
    assert not missing, f"operations never called by the suite: {missing}"
