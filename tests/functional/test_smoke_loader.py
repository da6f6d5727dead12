def test_loader_runs(modules):
    assert modules.test.ping() is True
